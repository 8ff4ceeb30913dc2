"""The card gateway port, and the simulated gateway that OMS runs with.

Payments talks to a card provider only through :class:`CardGateway`, so a real
provider's adapter can replace :class:`SimulatedGateway` without touching the
handlers.  Like real providers, the gateway takes an idempotency key on every
call: a call repeated with the same key (a redelivered command whose first
attempt crashed after charging but before committing) returns the first result
and moves no money twice.

The simulated gateway is deterministic, driven by the card token:

=========================== ============== ==============
token                       charge         refund
=========================== ============== ==============
``pm_card_ok``              captured       refunded
``pm_card_declined``        card_declined  (nothing to refund)
``pm_card_refund_declined`` captured       refund_declined
any other token             invalid_payment_method
=========================== ============== ==============

A ``decline`` fault (:func:`shared.faults.declined`) declines whatever the token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from shared.faults import declined

CARD_OK = "pm_card_ok"
CARD_DECLINED = "pm_card_declined"
CARD_REFUND_DECLINED = "pm_card_refund_declined"


@dataclass(frozen=True)
class Card:
    """What a test card looks like to a customer."""

    brand: str
    last4: str


TEST_CARDS: dict[str, Card] = {
    CARD_OK: Card("visa", "4242"),
    CARD_DECLINED: Card("visa", "0002"),
    CARD_REFUND_DECLINED: Card("mastercard", "0341"),
}
"""Test payment methods: usable by everyone, directly as a payment method id."""


@dataclass(frozen=True)
class GatewayResult:
    """A gateway's answer: a reference for what it did, or why it refused."""

    ok: bool
    reference: str | None = None
    """The provider's id of the charge or refund (needed to refund a charge)."""
    code: str | None = None
    reason: str | None = None

    @classmethod
    def approved(cls, reference: str) -> GatewayResult:
        return cls(ok=True, reference=reference)

    @classmethod
    def refused(cls, code: str, reason: str) -> GatewayResult:
        return cls(ok=False, code=code, reason=reason)


class CardGateway(Protocol):
    """A card provider: charge a tokenised card, refund a charge."""

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    async def refund(self, charge_ref: str, amount: int, idempotency_key: str) -> GatewayResult: ...


@dataclass
class Behaviour:
    """How the simulated gateway answers for one token."""

    charge: bool
    refund: bool


@dataclass(frozen=True)
class Charge:
    token: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Refund:
    charge_ref: str
    amount: int


@dataclass
class SimulatedGateway:
    """A deterministic in-memory card provider.

    ``behaviours`` can be changed while running (``gateway.behave(token,
    refund=True)``), so a test can show a declined refund succeeding on retry.
    ``charges`` and ``refunds`` are the provider's own ledger: what it really
    captured and paid back, idempotent replays not counted twice."""

    behaviours: dict[str, Behaviour] = field(
        default_factory=lambda: {
            CARD_OK: Behaviour(charge=True, refund=True),
            CARD_DECLINED: Behaviour(charge=False, refund=True),
            CARD_REFUND_DECLINED: Behaviour(charge=True, refund=False),
        }
    )
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    _replies: dict[str, GatewayResult] = field(default_factory=dict)

    def behave(self, token: str, *, charge: bool | None = None, refund: bool | None = None) -> None:
        """Change how ``token`` answers from now on."""
        current = self.behaviours.get(token, Behaviour(charge=False, refund=False))
        self.behaviours[token] = Behaviour(
            charge=current.charge if charge is None else charge,
            refund=current.refund if refund is None else refund,
        )

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        if idempotency_key in self._replies:
            return self._replies[idempotency_key]
        behaviour = self.behaviours.get(token)
        if behaviour is None:
            result = GatewayResult.refused(
                "invalid_payment_method", "the card token is not known to the gateway"
            )
        elif declined() or not behaviour.charge:
            result = GatewayResult.refused("card_declined", "the card was declined")
        elif amount <= 0:
            result = GatewayResult.refused("invalid_amount", "the amount must be positive")
        else:
            reference = f"ch_{uuid.uuid4().hex}"
            self.charges[reference] = Charge(token, amount, currency)
            result = GatewayResult.approved(reference)
        self._replies[idempotency_key] = result
        return result

    async def refund(self, charge_ref: str, amount: int, idempotency_key: str) -> GatewayResult:
        if idempotency_key in self._replies:
            return self._replies[idempotency_key]
        charge = self.charges.get(charge_ref)
        refundable = charge.amount - self.refunded(charge_ref) if charge is not None else 0
        if charge is None:
            result = GatewayResult.refused("unknown_charge", "the gateway has no such charge")
        elif declined() or not self.behaviours[charge.token].refund:
            result = GatewayResult.refused("refund_declined", "the refund was declined")
        elif not 0 < amount <= refundable:
            result = GatewayResult.refused(
                "invalid_amount", f"the refund must be between 1 and {refundable}"
            )
        else:
            reference = f"re_{uuid.uuid4().hex}"
            self.refunds[reference] = Refund(charge_ref, amount)
            result = GatewayResult.approved(reference)
        self._replies[idempotency_key] = result
        return result

    def refunded(self, charge_ref: str) -> int:
        """What was paid back of one charge."""
        return sum(r.amount for r in self.refunds.values() if r.charge_ref == charge_ref)

    def net(self) -> int:
        """Money captured and not paid back, over every charge."""
        return sum(c.amount for c in self.charges.values()) - sum(
            r.amount for r in self.refunds.values()
        )
