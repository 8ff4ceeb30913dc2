"""The audit's check of accepted cancels (``oms audit``, :mod:`oms.audit`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

PAID_FOR = {"confirmed", "shipped", "delivered"}
"""The statuses of an order the saga completed: paid for, then shipped and delivered."""


def when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _confirmed_at(order: dict[str, Any]) -> datetime | None:
    for change in order.get("history") or []:
        if change.get("status") == "confirmed":
            return when(change["at"])
    return None


def cancel_problems(order: dict[str, Any], now: datetime, stale_after: float) -> list[str]:
    """An accepted cancel must end in a cancelled order (docs/design.md, invariants)."""
    requested = order.get("cancelRequestedAt")
    if requested is None or order["status"] not in PAID_FOR:
        return []
    accepted = when(requested)
    confirmed = _confirmed_at(order)
    if confirmed is not None and accepted < confirmed:
        return [
            f"cancel accepted at {accepted.isoformat()} before the order was confirmed "
            f"at {confirmed.isoformat()}, yet the order is {order['status']}"
        ]
    if now - accepted > timedelta(seconds=stale_after):
        return [f"cancel accepted at {accepted.isoformat()} was never carried out"]
    return []
