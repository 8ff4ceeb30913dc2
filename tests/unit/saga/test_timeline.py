"""A saga's history in words, and the states still ahead of it."""

from __future__ import annotations

from typing import Any

import pytest

from saga.definition import SagaStatus, statuses_ahead
from saga.timeline import describe, money
from tests.unit.saga.definition.given import GIVEN, drive

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("command_out", {"type": "payment.charge", "attempt": 2, "body": {"amount": 1299, "currency": "EUR"}}, "payment.charge sent, attempt 2 (12.99 EUR)"),
    ("command_out", {"type": "inventory.release", "attempt": 1, "body": {}}, "inventory.release sent"),
    ("message_in", {"type": "inventory.reserved", "body": {"items": [{"productId": "p", "quantity": 2, "unitPrice": 1299}]}}, "inventory.reserved: 2 items at 12.99"),
    ("message_in", {"type": "order.created", "body": {"items": [{"productId": "p", "quantity": 1, "unitPrice": 500}, {"productId": "q", "quantity": 3, "unitPrice": 250}], "totalAmount": 1250, "currency": "EUR"}}, "order.created: 1 at 5.00, 3 at 2.50, total 12.50 EUR"),
    ("message_in", {"type": "payment.failed", "body": {"reason": "card declined", "code": "card_declined", "amount": 1}}, "payment.failed: card declined (card_declined)"),
    ("message_in", {"type": "inventory.insufficient", "body": {"shortages": [{"productId": "p", "requested": 3, "available": 1}]}}, "inventory.insufficient: p 3 asked, 1 left"),
    ("message_in", {"type": "order.cancel_requested", "body": {"requestedBy": "u-1"}}, "order.cancel_requested by u-1"),
    ("message_in", {"type": "order.shipped", "body": {"carrier": "DHL", "trackingNumber": "JD01", "shippedAt": "2026-12-06T10:00:00Z"}}, "order.shipped with DHL JD01"),
    ("message_in", {"type": "payment.refunded", "body": {"amount": 2500}}, "payment.refunded: 25.00"),
    ("operator", {"action": "abort", "actor": "alice", "reason": "customer phoned"}, "aborted by alice: customer phoned"),
    ("operator", {"action": "retry", "actor": "bob", "reason": "gateway back"}, "retried by bob: gateway back"),
    ("transition", {"from": None, "to": "reserving_inventory"}, "started: reserving_inventory"),
    ("transition", {"from": "charging_payment", "to": "refunding_payment"}, "charging_payment → refunding_payment"),
    ("timeout", {"command": "payment.charge", "attempt": 1, "backoff": False}, "payment.charge not answered in time (attempt 1)"),
    ("timeout", {"command": "payment.refund", "attempt": 2, "backoff": True}, "backoff over: payment.refund to be sent again"),
    ("ignored", {"why": "duplicate: payment.completed already received"}, "ignored: duplicate: payment.completed already received"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "detail", "words"), CASES)
def test_each_history_entry_reads_as_words(kind: str, detail: dict[str, Any], words: str) -> None:
    assert describe(kind, detail) == words


def test_money_is_minor_units_as_a_decimal() -> None:
    assert [money(n) for n in (0, 5, 1299, -250)] == ["0.00", "0.05", "12.99", "-2.50"]


def test_the_states_ahead_follow_the_forward_steps_or_the_undo_plan() -> None:
    charging, _ = drive(GIVEN["charging"])
    assert statuses_ahead(charging) == (SagaStatus.confirming_order, SagaStatus.completed)
    failed, _ = drive(GIVEN["failed"])
    assert statuses_ahead(failed) == (
        SagaStatus.refunding_payment,
        SagaStatus.releasing_inventory,
        SagaStatus.cancelling_order,
        SagaStatus.cancelled,
    )
    completed, _ = drive(GIVEN["completed"])
    assert statuses_ahead(completed) == ()
