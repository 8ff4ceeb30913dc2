"""Payment rules that need no I/O.

One order has at most one payment (a charge is idempotent per order) and any
number of refund attempts against it.  What a charge or a refund command should
do is decided here from what is already recorded; the handlers only load the
records, call the gateway, and store the outcome.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

REFERENCE = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
"""What an order or user id may look like (UUIDs in practice; ``oms token`` subjects)."""


class PaymentStatus(StrEnum):
    CAPTURED = "captured"
    DECLINED = "declined"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"


class Code(StrEnum):
    """``code`` of ``payment.failed`` / ``payment.refund_failed`` that payments decides itself
    (the gateway adds its own, such as ``invalid_amount`` and ``unknown_charge``)."""

    INVALID_PAYMENT_METHOD = "invalid_payment_method"
    ORDER_REFUNDED = "order_refunded"
    CARD_DECLINED = "card_declined"
    """A ``decline`` fault (QA) answering for the gateway, as a declined card would."""
    REFUND_DECLINED = "refund_declined"


CAPTURING = frozenset({PaymentStatus.CAPTURED, PaymentStatus.REFUNDED})
"""Statuses of a payment whose amount was captured at some point."""


class ChargeDecision(Enum):
    REPLAY = "replay"
    """The order has a payment: answer its outcome again, charge nothing."""
    REFUSE_REFUNDED = "refuse_refunded"
    """The order was refunded before any charge: capturing now would leak money."""
    CHARGE = "charge"


def decide_charge(*, has_payment: bool, refund_requested: bool) -> ChargeDecision:
    if has_payment:
        return ChargeDecision.REPLAY
    if refund_requested:
        return ChargeDecision.REFUSE_REFUNDED
    return ChargeDecision.CHARGE


@dataclass(frozen=True)
class RefundAttempt:
    amount: int
    status: RefundStatus


@dataclass(frozen=True)
class RefundPlan:
    """What a refund command does: pay back ``amount`` now (0: nothing to do), having
    paid back ``already`` before; ``attempt`` numbers the gateway call."""

    amount: int
    already: int
    attempt: int


def plan_refund(
    status: PaymentStatus | None, captured: int, attempts: Iterable[RefundAttempt]
) -> RefundPlan:
    """Refund what was captured and not yet refunded (nothing for a declined or
    missing payment)."""
    attempts = list(attempts)
    already = sum(a.amount for a in attempts if a.status == RefundStatus.SUCCEEDED)
    owed = captured - already if status in CAPTURING else 0
    return RefundPlan(amount=max(owed, 0), already=already, attempt=len(attempts) + 1)


def charge_key(order_id: str) -> str:
    """The gateway idempotency key of an order's charge: one charge per order, ever."""
    return f"charge:{order_id}"


def refund_key(payment_id: str, attempt: int) -> str:
    """The gateway idempotency key of one refund attempt.

    A redelivery of the same attempt (crash after the gateway answered, before
    commit) reuses the key and cannot pay back twice; a retry after a recorded
    decline is a new attempt, so the gateway really tries again."""
    return f"refund:{payment_id}:{attempt}"


@dataclass(frozen=True)
class Totals:
    captured: int
    refunded: int

    @property
    def net(self) -> int:
        return self.captured - self.refunded


def totals(
    payments: Iterable[tuple[PaymentStatus, int]], refunds: Iterable[RefundAttempt]
) -> Totals:
    """Money captured and refunded for an order: what an audit nets to zero or the total."""
    captured = sum(amount for status, amount in payments if status in CAPTURING)
    refunded = sum(r.amount for r in refunds if r.status == RefundStatus.SUCCEEDED)
    return Totals(captured, refunded)


def is_reference(value: str) -> bool:
    """Whether ``value`` can be an order or user id."""
    return REFERENCE.fullmatch(value) is not None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
