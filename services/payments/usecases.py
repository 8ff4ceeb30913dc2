"""What the payments' routes do: save and read payment methods, list an order's
payments and sum them up.

Each use case takes the service and parsed input, applies the rules of
:mod:`services.payments.domain` to rows read through
:mod:`services.payments.repository`, and raises a typed problem a caller can act on.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.payments import domain
from services.payments.domain import PaymentStatus, RefundAttempt, RefundStatus
from services.payments.gateway import TEST_CARDS
from services.payments.models import Payment, PaymentMethod, Refund
from services.payments.repository import Payments
from services.payments.schemas import (
    NewPaymentMethod,
    PaymentMethodOut,
    PaymentOut,
    PaymentSummary,
    RefundOut,
)
from shared.auth import Principal
from shared.service import Service
from shared.web.auth import ensure_owner
from shared.web.problems import Conflict, Forbidden, NotFound


def _method_out(method: PaymentMethod) -> PaymentMethodOut:
    return PaymentMethodOut(id=method.id, brand=method.brand, last4=method.last4)


def _visible(principal: Principal) -> str | None:
    """The user whose payments a principal may see; None: everyone's (ops)."""
    return None if principal.is_ops else principal.sub


def _attempts(refunds: list[Refund]) -> list[RefundAttempt]:
    return [RefundAttempt(r.amount, RefundStatus(r.status)) for r in refunds]


async def list_payment_methods(service: Service, user_id: str) -> list[PaymentMethodOut]:
    """The user's saved payment methods (the test cards are everyone's and not listed)."""
    async with service.db.reads() as session:
        return [_method_out(m) for m in await Payments(session).methods(user_id)]


async def save_payment_method(
    service: Service, user_id: str, body: NewPaymentMethod
) -> PaymentMethodOut:
    """Save a card by its gateway token; a test card's brand and last digits are known."""
    card = TEST_CARDS.get(body.token)
    method = PaymentMethod(
        user_id=user_id,
        token=body.token,
        brand=body.brand or (card.brand if card else None),
        last4=body.last4 or (card.last4 if card else None),
    )
    try:
        async with service.uow() as uow:
            Payments(uow.session).add(method)
            await uow.session.flush()
    except IntegrityError:
        raise Conflict("this card is already saved", field="token") from None
    return _method_out(method)


async def remove_payment_method(service: Service, user_id: str, method_id: str) -> None:
    """Forget one of the user's saved methods: later charges with it are declined, and
    refunds of charges made with it still go through (they name the payment, not the card).
    Another user's looks absent."""
    async with service.uow() as uow:
        payments = Payments(uow.session)
        method = await payments.method(method_id)
        if method is None or method.user_id != user_id:
            raise NotFound("payment method not found")
        await uow.session.delete(method)


async def get_payment_method(
    service: Service, method_id: str, principal: Principal
) -> PaymentMethodOut:
    """A test card, or a saved method of the caller's; another user's looks absent."""
    card = TEST_CARDS.get(method_id)
    if card is not None:
        return PaymentMethodOut(id=method_id, brand=card.brand, last4=card.last4)
    async with service.db.reads() as session:
        method = await Payments(session).method(method_id)
    if method is None:
        raise NotFound("payment method not found")
    ensure_owner(principal, method.user_id, "payment method")
    return _method_out(method)


def _payment_out(payment: Payment, refunds: list[Refund]) -> PaymentOut:
    return PaymentOut.model_validate(
        payment.model_dump()
        | {
            "refunded_amount": domain.totals([], _attempts(refunds)).refunded,
            "refunds": [RefundOut.model_validate(r, from_attributes=True) for r in refunds],
        }
    )


async def list_payments(
    service: Service, principal: Principal, *, order_id: str | None, limit: int
) -> list[PaymentOut]:
    """An order's payments with their refunds (ops, or the order's user: others get an
    empty list); without ``order_id``, every payment (ops only)."""
    if order_id is None and not principal.is_ops:
        raise Forbidden("listing every payment needs the ops role; filter by orderId")
    async with service.db.reads() as session:
        rows = await Payments(session).with_refunds(
            order_id=order_id, user_id=_visible(principal), limit=limit
        )
    return [_payment_out(p, refunds) for p, refunds in rows]


async def payment_summary(service: Service, principal: Principal, order_id: str) -> PaymentSummary:
    """Captured minus refunded for one order (what ``oms audit`` checks)."""
    async with service.db.reads() as session:
        rows = await Payments(session).with_refunds(
            order_id=order_id, user_id=_visible(principal), limit=1000
        )
    totals = domain.totals(
        [(PaymentStatus(p.status), p.amount) for p, _ in rows],
        [a for _, refunds in rows for a in _attempts(refunds)],
    )
    return PaymentSummary(
        order_id=order_id,
        currency=rows[0][0].currency if rows else None,
        captured=totals.captured,
        refunded=totals.refunded,
        net=totals.net,
    )
