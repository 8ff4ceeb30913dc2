"""``payment.refund_return`` on both stacks: a return is refunded once from the
order's capture, and never beyond what the capture has left, whichever returns ask."""

from __future__ import annotations

import uuid
from typing import Any

from card_provider.cards import CARD_REFUND_DECLINED
from shared.messages import (
    PaymentCompleted,
    RefundReturn,
    ReturnRefunded,
    ReturnRefundFailed,
)
from tests.integration.services.payments.conftest import AMOUNT, Payments, money_fields


async def refund_return(payments: Payments, order_id: str, return_id: str, **money: Any) -> None:
    await payments.send(
        RefundReturn(order_id=order_id, return_id=return_id, **money_fields(**money))
    )


async def paid(payments: Payments, **money: Any) -> str:
    order_id = str(uuid.uuid4())
    await payments.charge(order_id, **money)
    assert isinstance(await payments.reply(order_id), PaymentCompleted)
    return order_id


async def test_returns_are_refunded_once_each_and_never_beyond_the_capture(
    payments: Payments,
) -> None:
    order_id = await paid(payments)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    await refund_return(payments, order_id, first, amount=AMOUNT - 100)
    done = await payments.reply(order_id, 2)
    assert isinstance(done, ReturnRefunded)
    assert (done.return_id, done.amount) == (first, AMOUNT - 100)

    await refund_return(payments, order_id, second, amount=200)
    refused = await payments.reply(order_id, 3)
    assert isinstance(refused, ReturnRefundFailed)
    assert (refused.return_id, refused.code) == (second, "exceeds_capture")
    assert refused.reason == "200 asked back, 100 of the capture left to refund"

    await refund_return(payments, order_id, second, amount=100)
    assert isinstance(await payments.reply(order_id, 4), ReturnRefunded)
    await refund_return(payments, order_id, first, amount=AMOUNT - 100)  # the saga resending
    again = await payments.reply(order_id, 5)
    assert again == done

    summary = await payments.summary(order_id)
    assert (summary["captured"], summary["refunded"], summary["net"]) == (AMOUNT, AMOUNT, 0)
    assert len(await payments.provider.refunds()) == 2
    assert await payments.provider.net() == 0


async def test_a_declined_return_refund_is_recorded_and_tried_again_by_the_next_command(
    payments: Payments,
) -> None:
    order_id = await paid(payments, method=CARD_REFUND_DECLINED)
    return_id = str(uuid.uuid4())
    for number in (2, 3):
        await refund_return(payments, order_id, return_id, method=CARD_REFUND_DECLINED)
        declined = await payments.reply(order_id, number)
        assert isinstance(declined, ReturnRefundFailed)
        assert declined.code != "exceeds_capture"
    rows = await payments.payments(order_id)
    assert [r["status"] for r in rows[0]["refunds"]] == ["declined", "declined"]
    assert (await payments.summary(order_id))["refunded"] == 0


async def test_a_return_of_an_order_never_paid_is_refused_with_why(payments: Payments) -> None:
    order_id, return_id = str(uuid.uuid4()), str(uuid.uuid4())
    await refund_return(payments, order_id, return_id)
    refused = await payments.reply(order_id)
    assert isinstance(refused, ReturnRefundFailed)
    assert refused.code == "nothing_captured"
    assert await payments.provider.refunds() == []
