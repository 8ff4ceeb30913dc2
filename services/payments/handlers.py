"""The payments command handlers: ``payment.charge`` and ``payment.refund``.

Each runs inside the endpoint's unit of work (inbox check, state change and reply
in one transaction), after locking the order's record, and is idempotent per
order, not only per message:

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

When the card provider cannot be heard (down, slower than every timeout and
retry: :class:`~services.payments.gateway.ProviderUnavailable`), the handler
records nothing and answers nothing: its transaction rolls back and the command is
delivered again, up to the delivery limit, then dead-lettered with the reason.  An
answer of either kind would be a guess about money: a ``payment.failed`` for a
charge the provider may have captured would cancel a paid order and keep the
money; a ``payment.completed`` would confirm an order nobody paid for.  Silence is
what the saga already handles: past the step's deadline it resends the command
(the same order, so the same idempotency key: a charge that did happen is found,
never made twice) and then compensates with a refund; a refund that cannot reach
the provider is retried by the saga with backoff and then the saga is ``failed``
for ops, who retry it once the provider is back.  Money moves only on an answer
the provider gave, and every answer it gave is found again by its key.
"""

from __future__ import annotations

from functools import partial

from services.payments import domain
from services.payments.domain import (
    ChargeDecision,
    Code,
    PaymentStatus,
    RefundAttempt,
    RefundStatus,
)
from services.payments.gateway import CardGateway, GatewayResult
from services.payments.models import Payment, PaymentMethod, Refund
from services.payments.repository import Payments
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
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.transport import PoisonMessage
from shared.persistence.outbox import UnitOfWork

log = get_logger(__name__)


def _outcome(payment: Payment) -> Message:
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


def _check_ids(*ids: str) -> None:
    for value in ids:
        if not domain.is_reference(value):
            raise PoisonMessage(f"{value[:80]!r} is not an order or user id")


async def _card_token(
    gateway: CardGateway, payments: Payments, payment_method_id: str, user_id: str
) -> str | None:
    """The token to charge: a saved method's, for its owner only (another user's saved
    card is refused as unknown); a test card's id, as the gateway knows them, is its
    own token."""
    if domain.is_uuid(payment_method_id):
        method: PaymentMethod | None = await payments.method(payment_method_id)
        return method.token if method is not None and method.user_id == user_id else None
    return payment_method_id if await gateway.test_card(payment_method_id) is not None else None


async def charge(
    gateway: CardGateway, uow: UnitOfWork, message: ChargePayment, envelope: Envelope
) -> None:
    _check_ids(message.order_id, message.user_id)
    payments = Payments(uow.session)
    order = await payments.lock_order(message.order_id)
    payment = await payments.payment_of_order(message.order_id)
    decision = domain.decide_charge(
        has_payment=payment is not None, refund_requested=order.refund_requested_at is not None
    )
    reply: Message
    if decision is ChargeDecision.REPLAY:
        assert payment is not None
        reply = _outcome(payment)
    elif decision is ChargeDecision.REFUSE_REFUNDED:
        log.warning("payment.late_charge_refused", order_id=message.order_id)
        reply = PaymentFailed(
            order_id=message.order_id,
            amount=message.amount,
            reason="the order was refunded before this charge arrived",
            code=Code.ORDER_REFUNDED,
        )
    else:
        token = await _card_token(gateway, payments, message.payment_method_id, message.user_id)
        if token is None:
            result = GatewayResult.refused(
                Code.INVALID_PAYMENT_METHOD, "no such payment method for this user"
            )
        elif declined():
            result = GatewayResult.refused(Code.CARD_DECLINED, "the card was declined")
        elif message.amount == 0:
            # A free order: nothing to capture, and card providers refuse a zero charge.
            result = GatewayResult(ok=True)
        else:
            result = await gateway.charge(
                token, message.amount, message.currency, domain.charge_key(message.order_id)
            )
        payment = Payment(
            order_id=message.order_id,
            user_id=message.user_id,
            payment_method_id=message.payment_method_id,
            amount=message.amount,
            currency=message.currency,
            status=PaymentStatus.CAPTURED if result.ok else PaymentStatus.DECLINED,
            charge_ref=result.reference,
            code=result.code,
            reason=result.reason,
        )
        payments.add(payment)
        reply = _outcome(payment)
    uow.send(reply, correlation_id=envelope.correlation_id)


async def _unheard_charge(
    gateway: CardGateway, payments: Payments, message: RefundPayment
) -> Payment | None:
    """The payment of an order refunded with none recorded, as the provider has it.

    No payment recorded may still mean money captured: a charge reached the
    provider but its answer never reached payments (every attempt of every delivery
    timed out), and the saga, hearing nothing, compensates with this refund.  The
    gateway is asked for the charge by its key, which voids the key when no charge
    came: a charge still on its way cannot capture afterwards.  A captured charge
    is recorded here and then refunded like any other; otherwise there is nothing
    to pay back, now or later."""
    found = await gateway.void(domain.charge_key(message.order_id))
    if not found.ok or found.reference is None:
        return None
    log.warning("payment.unheard_charge_found", order_id=message.order_id, charge=found.reference)
    payment = Payment(
        order_id=message.order_id,
        user_id=message.user_id,
        payment_method_id=message.payment_method_id,
        amount=found.amount if found.amount is not None else message.amount,
        currency=message.currency,
        status=PaymentStatus.CAPTURED,
        charge_ref=found.reference,
    )
    payments.add(payment)
    await payments.session.flush()
    return payment


async def refund(
    gateway: CardGateway, uow: UnitOfWork, message: RefundPayment, envelope: Envelope
) -> None:
    _check_ids(message.order_id)
    payments = Payments(uow.session)
    order = await payments.lock_order(message.order_id)
    if order.refund_requested_at is None:
        order.refund_requested_at = utcnow()  # the tombstone: no capture after this
        payments.add(order)
    payment = await payments.payment_of_order(message.order_id)
    if payment is None:
        payment = await _unheard_charge(gateway, payments, message)
    attempts = await payments.refunds_of([payment.id]) if payment else []
    plan = domain.plan_refund(
        PaymentStatus(payment.status) if payment else None,
        payment.amount if payment else 0,
        [RefundAttempt(a.amount, RefundStatus(a.status)) for a in attempts],
    )
    reply: Message
    if payment is None or payment.charge_ref is None or plan.amount == 0:
        # Nothing (more) to pay back: answer with what was refunded so far,
        # so a repeated refund gets the same answer as the first.
        reply = PaymentRefunded(
            order_id=message.order_id,
            payment_id=payment.id if payment else None,
            amount=plan.already,
        )
    else:
        if declined():
            result = GatewayResult.refused(Code.REFUND_DECLINED, "the refund was declined")
        else:
            result = await gateway.refund(
                payment.charge_ref, plan.amount, domain.refund_key(payment.id, plan.attempt)
            )
        payments.add(
            Refund(
                payment_id=payment.id,
                order_id=payment.order_id,
                attempt=plan.attempt,
                amount=plan.amount,
                status=RefundStatus.SUCCEEDED if result.ok else RefundStatus.DECLINED,
                reference=result.reference,
                code=result.code,
                reason=result.reason,
            )
        )
        if result.ok:
            payment.status = PaymentStatus.REFUNDED
            payment.updated_at = utcnow()
            payments.add(payment)
            reply = PaymentRefunded(
                order_id=payment.order_id,
                payment_id=payment.id,
                amount=plan.already + plan.amount,
            )
        else:
            reply = PaymentRefundFailed(
                order_id=payment.order_id,
                payment_id=payment.id,
                amount=plan.amount,
                reason=result.reason or "refund declined",
                code=result.code or "refund_declined",
            )
    uow.send(reply, correlation_id=envelope.correlation_id)


def register(endpoint: Endpoint, gateway: CardGateway) -> None:
    """Route the payments' commands to their handlers, charging through ``gateway``."""
    endpoint.handles(ChargePayment)(partial(charge, gateway))
    endpoint.handles(RefundPayment)(partial(refund, gateway))
