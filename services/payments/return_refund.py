"""Refunding a return (``payment.refund_return`` from the return saga).

A return is paid back from the order's capture, once: the refunds recorded under
the return's id say whether it was (a repeated command answers that refund
again).  Never more than the capture has left: every refund of the order's
payment, its returns' and its cancellation's, counts against it, so two returns
of one order cannot pay back more than was paid; a refund that would is refused
(``payment.return_refund_failed``, code ``exceeds_capture``) and ops see why.  A
declined refund is recorded and tried again (a new attempt, a new gateway key)
by the next command, as an order's refund is.
"""

from __future__ import annotations

from sqlmodel import select

from services.payments import domain
from services.payments.domain import CAPTURING, Code, RefundStatus
from services.payments.gateway import CardGateway, GatewayResult
from services.payments.models import Refund
from services.payments.repository import Payments
from services.payments.usecases import record_refund
from shared.clock import utcnow
from shared.faults import declined
from shared.messages import Message, RefundReturn, ReturnRefunded, ReturnRefundFailed
from shared.persistence.outbox import UnitOfWork

EXCEEDS_CAPTURE = "exceeds_capture"
NOTHING_CAPTURED = "nothing_captured"


async def refund_return(uow: UnitOfWork, gateway: CardGateway, command: RefundReturn) -> Message:
    payments = Payments(uow.session)
    await payments.lock_order(command.order_id, utcnow())
    payment = await payments.charged(command.order_id)
    ids = {"return_id": command.return_id, "order_id": command.order_id}
    if payment is None or payment.status not in CAPTURING or payment.charge_ref is None:
        return ReturnRefundFailed(
            **ids,
            amount=command.amount,
            reason="the order has no captured payment to refund from",
            code=NOTHING_CAPTURED,
        )
    earlier = (
        await uow.session.exec(
            select(Refund).where(
                Refund.return_id == command.return_id,
                Refund.status == RefundStatus.SUCCEEDED,
            )
        )
    ).first()
    if earlier is not None:
        return ReturnRefunded(**ids, payment_id=payment.id, amount=earlier.amount)
    attempts = await payments.attempts(payment.id)
    left = payment.amount - domain.totals([], attempts).refunded
    if command.amount > left:
        return ReturnRefundFailed(
            **ids,
            payment_id=payment.id,
            amount=command.amount,
            reason=f"{command.amount} asked back, {left} of the capture left to refund",
            code=EXCEEDS_CAPTURE,
        )
    attempt = len(attempts) + 1
    if command.amount == 0:
        result = GatewayResult(ok=True)
    elif declined():
        result = GatewayResult.refused(Code.REFUND_DECLINED, "the refund was declined")
    else:
        result = await gateway.refund(
            payment.charge_ref, command.amount, domain.refund_key(payment.id, attempt)
        )
    await record_refund(
        payments, payment, attempt, command.amount, result, return_id=command.return_id
    )
    if not result.ok:
        return ReturnRefundFailed(
            **ids,
            payment_id=payment.id,
            amount=command.amount,
            reason=result.reason or "refund declined",
            code=result.code or "refund_declined",
        )
    return ReturnRefunded(**ids, payment_id=payment.id, amount=command.amount)
