"""What a return saga remembers between two inputs, and its JSON codec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saga.definition import JSON, InvalidSagaState, Timer
from saga.returns.statuses import RECEIPT, ReturnStatus
from shared.messages import ReturnRequested

AWAITED: dict[ReturnStatus, str] = {
    ReturnStatus.expiring: "return.expire",
    ReturnStatus.restocking: "inventory.restock",
    ReturnStatus.refunding: "payment.refund_return",
    ReturnStatus.closing: "return.close",
}
"""The command each working status sends and waits on."""


@dataclass(frozen=True)
class ReturnedLine:
    product_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class ReturnState:
    """A return saga's state; its id is the return's id."""

    saga_id: str
    status: ReturnStatus
    order_id: str
    user_id: str
    currency: str
    payment_method_id: str
    requested: tuple[ReturnedLine, ...]
    received: tuple[tuple[str, int], ...] = ()
    """``(product id, quantity)`` the warehouse received (empty until it did)."""
    sent: dict[str, int] = field(default_factory=dict)
    """How often each command was sent: its attempts (command ids, deadlines)."""
    refusals: int = 0
    """Refunds refused since the last operator retry."""
    timeouts: int = 0
    """Deadlines passed unanswered on the command awaited now."""
    backing_off: bool = False
    deadline: Timer | None = None
    refunded: int = 0
    reason: str | None = None
    resume: ReturnStatus | None = None
    """Once ``failed``: the status an operator retry resumes (the command that failed)."""

    @classmethod
    def start(cls, event: ReturnRequested) -> ReturnState:
        return cls(
            saga_id=event.return_id,
            status=ReturnStatus.awaiting_receipt,
            order_id=event.order_id,
            user_id=event.user_id,
            currency=event.currency,
            payment_method_id=event.payment_method_id,
            requested=tuple(
                ReturnedLine(i.product_id, i.quantity, i.unit_price) for i in event.items
            ),
        )

    @property
    def refund_amount(self) -> int:
        """What the received goods are worth at the prices paid: never more than
        each line's requested quantity."""
        price = {line.product_id: line for line in self.requested}
        return sum(
            min(quantity, price[product].quantity) * price[product].unit_price
            for product, quantity in self.received
            if product in price
        )

    # --- what ops are shown (the names the order saga's state uses) -------------

    @property
    def current(self) -> str | None:
        """The command awaited (or, failed, the one a retry resends), or the receipt."""
        status = self.resume if self.status is ReturnStatus.failed else self.status
        if status is ReturnStatus.awaiting_receipt:
            return RECEIPT
        return AWAITED.get(status) if status is not None else None

    @property
    def attempt(self) -> int:
        current = self.current
        return 0 if current is None or current == RECEIPT else self.sent.get(current, 0)

    @property
    def undoing(self) -> bool:
        """Whether a refused refund is being retried (ops are told it was refused)."""
        return self.refusals > 0

    def ahead(self) -> list[str]:
        """The statuses still ahead if every command is answered as hoped."""
        path = [
            ReturnStatus.awaiting_receipt,
            ReturnStatus.restocking,
            ReturnStatus.refunding,
            ReturnStatus.closing,
            ReturnStatus.completed,
        ]
        if self.status is ReturnStatus.expiring:
            return [ReturnStatus.expired.value]
        if self.status not in path[:-1]:
            return []
        return [status.value for status in path[path.index(self.status) + 1 :]]

    def order_view(self) -> JSON:
        """What the ops API shows as the saga's ``order``: the return's lines."""
        return {
            "orderId": self.order_id,
            "userId": self.user_id,
            "currency": self.currency,
            "paymentMethodId": self.payment_method_id,
            "items": [
                {"productId": i.product_id, "quantity": i.quantity, "unitPrice": i.unit_price}
                for i in self.requested
            ],
            "received": [{"productId": p, "quantity": q} for p, q in self.received],
            "refundAmount": self.refund_amount,
            "refunded": self.refunded,
        }

    def to_json(self) -> JSON:
        return {
            "status": self.status.value,
            "orderId": self.order_id,
            "userId": self.user_id,
            "currency": self.currency,
            "paymentMethodId": self.payment_method_id,
            "requested": [
                {"productId": i.product_id, "quantity": i.quantity, "unitPrice": i.unit_price}
                for i in self.requested
            ],
            "received": [{"productId": p, "quantity": q} for p, q in self.received],
            "sent": dict(self.sent),
            "refusals": self.refusals,
            "timeouts": self.timeouts,
            "backingOff": self.backing_off,
            "deadline": None if self.deadline is None else self.deadline.to_json(),
            "refunded": self.refunded,
            "reason": self.reason,
            "resume": None if self.resume is None else self.resume.value,
            "sagaId": self.saga_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReturnState:
        try:
            deadline = data.get("deadline")
            return cls(
                saga_id=str(data["sagaId"]),
                status=ReturnStatus(data["status"]),
                order_id=str(data["orderId"]),
                user_id=str(data["userId"]),
                currency=str(data["currency"]),
                payment_method_id=str(data["paymentMethodId"]),
                requested=tuple(
                    ReturnedLine(str(i["productId"]), int(i["quantity"]), int(i["unitPrice"]))
                    for i in data["requested"]
                ),
                received=tuple((str(i["productId"]), int(i["quantity"])) for i in data["received"]),
                sent={str(k): int(v) for k, v in data["sent"].items()},
                refusals=int(data["refusals"]),
                timeouts=int(data["timeouts"]),
                backing_off=bool(data["backingOff"]),
                deadline=None if deadline is None else Timer.from_json(deadline),
                refunded=int(data["refunded"]),
                reason=None if data.get("reason") is None else str(data["reason"]),
                resume=None if data.get("resume") is None else ReturnStatus(data["resume"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSagaState(f"not a return saga state: {exc!r}") from exc
