"""The payments' service layer: what its HTTP routes and its command handlers do.

The routes save and read payment methods, list an order's payments and sum them
up; the saga's commands charge and refund.  Each use case takes the service (or,
for a command, the unit of work the message runs in) and parsed input, applies
the rules of :mod:`services.payments.domain` to rows read through
:mod:`services.payments.repository`, and raises the domain errors of
:mod:`services.payments.errors`; the edges turn those into problem answers
(:data:`services.payments.api.PROBLEMS`) or dead letters
(:mod:`services.payments.handlers`).

A charge and a refund run after locking the order's record, and are idempotent
per order, not only per message:

* charge, first time: resolve the payment method to a card token (a test card id,
  as the gateway knows them, is its own token; a saved method's id gives its
  owner's token; anything else is ``invalid_payment_method``), charge it, record
  the payment, answer ``payment.completed`` or ``payment.failed``; a free order
  (amount 0) with a valid method completes without a call to the gateway;
* charge again: answer the recorded outcome again, charge nothing;
* charge after the order's refund (a late or reordered command): the refund left
  a tombstone, so the charge is refused with ``payment.failed`` code
  ``order_refunded`` instead of capturing money nobody would pay back;
* refund: pay back what was captured and not yet refunded, answering
  ``payment.refunded`` (amount 0 when nothing was captured) or
  ``payment.refund_failed``; a refund after a successful one pays nothing more
  and answers the same refund again; a declined refund is tried again at the
  gateway by the next refund command.  A refund of an order with no payment
  recorded first asks the gateway for the charge by its key (:func:`_unheard_charge`).

A gateway that cannot be heard raises
:class:`~services.payments.errors.ProviderUnavailable` through the use case:
nothing is recorded, since whether money moved is unknown.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.payments import domain
from services.payments.domain import (
    ChargeDecision,
    Code,
    PaymentStatus,
    RefundAttempt,
    RefundStatus,
)
from services.payments.errors import (
    CardAlreadySaved,
    EveryPaymentForOps,
    NotAReference,
    PaymentMethodNotFound,
)
from services.payments.gateway import CardGateway, GatewayResult
from services.payments.models import Payment, PaymentMethod, Refund, new_id
from services.payments.repository import Charged, Payments
from services.payments.schemas import (
    NewPaymentMethod,
    PaymentMethodOut,
    PaymentOut,
    PaymentSummary,
    RefundOut,
)
from shared.auth import Principal
from shared.clock import utcnow
from shared.faults import declined
from shared.logging import get_logger
from shared.messages import (
    ChargePayment,
    Message,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
    RefundPayment,
)
from shared.persistence.outbox import UnitOfWork
from shared.service import Service

log = get_logger(__name__)


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
    service: Service, gateway: CardGateway, user_id: str, body: NewPaymentMethod
) -> PaymentMethodOut:
    """Save a card by its gateway token; a test card's brand and last digits are the gateway's."""
    card = await gateway.test_card(body.token)
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
        raise CardAlreadySaved from None
    return _method_out(method)


async def remove_payment_method(service: Service, user_id: str, method_id: str) -> None:
    """Forget one of the user's saved methods: later charges with it are declined, and
    refunds of charges made with it still go through (they name the payment, not the card).
    Another user's looks absent."""
    async with service.uow() as uow:
        payments = Payments(uow.session)
        method = await payments.method(method_id)
        if method is None or method.user_id != user_id:
            raise PaymentMethodNotFound
        await uow.session.delete(method)


async def get_payment_method(
    service: Service, gateway: CardGateway, method_id: str, principal: Principal
) -> PaymentMethodOut:
    """A test card (as the gateway knows them), or a saved method of the caller's;
    another user's looks absent."""
    if not domain.is_uuid(method_id):  # saved methods have UUIDs, test cards never
        card = await gateway.test_card(method_id)
        if card is None:
            raise PaymentMethodNotFound
        return PaymentMethodOut(id=method_id, brand=card.brand, last4=card.last4)
    async with service.db.reads() as session:
        method = await Payments(session).method(method_id)
    if method is None or not principal.may_see(method.user_id):
        raise PaymentMethodNotFound
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
    service: Service, principal: Principal, *, order_id: str | None, limit: int, offset: int = 0
) -> list[PaymentOut]:
    """An order's payments with their refunds (ops, or the order's user: others get an
    empty list); without ``order_id``, every payment (ops only)."""
    if order_id is None and not principal.is_ops:
        raise EveryPaymentForOps
    async with service.db.reads() as session:
        rows = await Payments(session).with_refunds(
            order_id=order_id, user_id=_visible(principal), limit=limit, offset=offset
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


def _outcome(payment: Charged) -> Message:
    """The answer to a charge of an order that has ``payment``."""
    if payment.status == PaymentStatus.DECLINED:
        return PaymentFailed(
            order_id=payment.order_id,
            payment_id=payment.id,
            amount=payment.amount,
            reason=payment.reason or "declined",
            code=payment.code or "declined",
        )
    return PaymentCompleted(order_id=payment.order_id, payment_id=payment.id, amount=payment.amount)


async def _card_token(
    gateway: CardGateway, payments: Payments, payment_method_id: str, user_id: str
) -> str | None:
    """The token to charge: a saved method's, for its owner only (another user's saved
    card is refused as unknown); a test card's id, as the gateway knows them, is its
    own token."""
    if domain.is_uuid(payment_method_id):
        method = await payments.method(payment_method_id)
        return method.token if method is not None and method.user_id == user_id else None
    return payment_method_id if await gateway.test_card(payment_method_id) is not None else None


def check_ids(*ids: str) -> None:
    for value in ids:
        if not domain.is_reference(value):
            raise NotAReference(value)


async def charge(uow: UnitOfWork, gateway: CardGateway, command: ChargePayment) -> Message:
    """``payment.charge``: the order's one charge, through ``gateway``."""
    check_ids(command.order_id, command.user_id)
    payments = Payments(uow.session)
    refund_requested_at = await payments.lock_order(command.order_id, utcnow())
    payment = await payments.charged(command.order_id)
    decision = domain.decide_charge(
        has_payment=payment is not None, refund_requested=refund_requested_at is not None
    )
    if decision is ChargeDecision.REPLAY:
        assert payment is not None
        return _outcome(payment)
    if decision is ChargeDecision.REFUSE_REFUNDED:
        log.warning("payment.late_charge_refused", order_id=command.order_id)
        return PaymentFailed(
            order_id=command.order_id,
            amount=command.amount,
            reason="the order was refunded before this charge arrived",
            code=Code.ORDER_REFUNDED,
        )
    token = await _card_token(gateway, payments, command.payment_method_id, command.user_id)
    if token is None:
        result = GatewayResult.refused(
            Code.INVALID_PAYMENT_METHOD, "no such payment method for this user"
        )
    elif declined():
        result = GatewayResult.refused(Code.CARD_DECLINED, "the card was declined")
    elif command.amount == 0:
        # A free order: nothing to capture, and card providers refuse a zero charge.
        result = GatewayResult(ok=True)
    else:
        result = await gateway.charge(
            token, command.amount, command.currency, domain.charge_key(command.order_id)
        )
    payment = Charged(
        id=new_id(),
        order_id=command.order_id,
        amount=command.amount,
        status=PaymentStatus.CAPTURED if result.ok else PaymentStatus.DECLINED,
        charge_ref=result.reference,
        code=result.code,
        reason=result.reason,
    )
    await _record_payment(
        payments, payment, command.user_id, command.payment_method_id, command.currency
    )
    return _outcome(payment)


async def _record_payment(
    payments: Payments, payment: Charged, user_id: str, payment_method_id: str, currency: str
) -> None:
    now = utcnow()
    await payments.record_payment(
        {
            "id": payment.id,
            "order_id": payment.order_id,
            "user_id": user_id,
            "payment_method_id": payment_method_id,
            "amount": payment.amount,
            "currency": currency,
            "status": payment.status,
            "charge_ref": payment.charge_ref,
            "code": payment.code,
            "reason": payment.reason,
            "created_at": now,
            "updated_at": now,
        }
    )


async def _unheard_charge(
    gateway: CardGateway, payments: Payments, command: RefundPayment
) -> Charged | None:
    """The payment of an order refunded with none recorded, as the provider has it.

    No payment recorded may still mean money captured: a charge reached the
    provider but its answer never reached payments (every attempt of every delivery
    timed out), and the saga, hearing nothing, compensates with this refund.  The
    gateway is asked for the charge by its key, which voids the key when no charge
    came: a charge still on its way cannot capture afterwards.  A captured charge
    is recorded here and then refunded like any other; otherwise there is nothing
    to pay back, now or later."""
    found = await gateway.void(domain.charge_key(command.order_id))
    if not found.ok or found.reference is None:
        return None
    log.warning("payment.unheard_charge_found", order_id=command.order_id, charge=found.reference)
    payment = Charged(
        id=new_id(),
        order_id=command.order_id,
        amount=found.amount if found.amount is not None else command.amount,
        status=PaymentStatus.CAPTURED,
        charge_ref=found.reference,
        code=None,
        reason=None,
    )
    await _record_payment(
        payments, payment, command.user_id, command.payment_method_id, command.currency
    )
    return payment


async def record_refund(
    payments: Payments,
    payment: Charged,
    attempt: int,
    amount: int,
    result: GatewayResult,
    *,
    return_id: str | None = None,
) -> None:
    """Record one refund attempt of ``payment`` as the gateway answered it."""
    await payments.record_refund(
        {
            "id": new_id(),
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "return_id": return_id,
            "attempt": attempt,
            "amount": amount,
            "status": RefundStatus.SUCCEEDED if result.ok else RefundStatus.DECLINED,
            "reference": result.reference,
            "code": result.code,
            "reason": result.reason,
            "created_at": utcnow(),
        }
    )


async def refund(uow: UnitOfWork, gateway: CardGateway, command: RefundPayment) -> Message:
    """``payment.refund``: pay back what the order's payment captured and was not
    refunded yet, through ``gateway``."""
    check_ids(command.order_id)
    payments = Payments(uow.session)
    now = utcnow()
    if await payments.lock_order(command.order_id, now) is None:
        await payments.mark_refund_requested(command.order_id, now)  # no capture after this
    payment = await payments.charged(command.order_id)
    if payment is None:
        payment = await _unheard_charge(gateway, payments, command)
    plan = domain.plan_refund(
        payment.status if payment else None,
        payment.amount if payment else 0,
        await payments.attempts(payment.id) if payment else [],
    )
    if payment is None or payment.charge_ref is None or plan.amount == 0:
        # Nothing (more) to pay back: answer with what was refunded so far,
        # so a repeated refund gets the same answer as the first.
        return PaymentRefunded(
            order_id=command.order_id,
            payment_id=payment.id if payment else None,
            amount=plan.already,
        )
    if declined():
        result = GatewayResult.refused(Code.REFUND_DECLINED, "the refund was declined")
    else:
        result = await gateway.refund(
            payment.charge_ref, plan.amount, domain.refund_key(payment.id, plan.attempt)
        )
    await record_refund(payments, payment, plan.attempt, plan.amount, result)
    if not result.ok:
        return PaymentRefundFailed(
            order_id=payment.order_id,
            payment_id=payment.id,
            amount=plan.amount,
            reason=result.reason or "refund declined",
            code=result.code or "refund_declined",
        )
    await payments.mark_refunded(payment.id, utcnow())
    return PaymentRefunded(
        order_id=payment.order_id, payment_id=payment.id, amount=plan.already + plan.amount
    )
