"""The payments command handlers: ``payment.charge`` and ``payment.refund``.

Each runs inside the endpoint's unit of work (inbox check, state change and reply
in one transaction), after locking the order's record, and is idempotent per
order, not only per message:

* charge, first time: resolve the payment method to a card token (a test card id
  is its own token; a saved method's id gives its owner's token; anything else is
  ``invalid_payment_method``), charge it, record the payment, answer
  ``payment.completed`` or ``payment.failed``; a free order (amount 0) with a
  valid method completes without a call to the gateway;
* charge again: answer the recorded outcome again, charge nothing;
* charge after the order's refund (a late or reordered command): the refund left
  a tombstone, so the charge is refused with ``payment.failed`` code
  ``order_refunded`` instead of capturing money nobody would pay back;
* refund: pay back what was captured and not yet refunded, answering
  ``payment.refunded`` (amount 0 when nothing was captured) or
  ``payment.refund_failed``; a refund after a successful one pays nothing more
  and answers the same refund again; a declined refund is tried again at the
  gateway by the next refund command.
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
from services.payments.models import Payment, Refund
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
        token = await payments.card_token(message.payment_method_id, message.user_id)
        if token is None:
            result = GatewayResult.refused(
                Code.INVALID_PAYMENT_METHOD, "no such payment method for this user"
            )
        elif message.amount == 0 and not declined():
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
