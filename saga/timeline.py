"""A saga's history in words, one line per entry: what ops read first.

``payment.charge sent, attempt 2``, ``inventory.reserved: 2 items at 12.99``,
``aborted by alice: customer phoned``.  The full entry stays beside it (the API
returns both); the words only pick out what a person looks for in each kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACTIONS = {"retry": "retried", "abort": "aborted"}


def describe(kind: str, detail: Mapping[str, Any]) -> str:
    """One history entry (``kind`` and its ``detail``) in words."""
    if kind == "message_in":
        return _message(str(detail.get("type", "?")), _body(detail))
    if kind == "command_out":
        attempt = int(detail.get("attempt") or 1)
        again = f", attempt {attempt}" if attempt > 1 else ""
        amount = _amount(_body(detail))
        return f"{detail.get('type', '?')} sent{again}" + (f" ({amount})" if amount else "")
    if kind == "transition":
        source, target = detail.get("from"), detail.get("to")
        return f"started: {target}" if source is None else f"{source} → {target}"
    if kind == "timeout":
        if detail.get("backoff"):
            return f"backoff over: {detail.get('command')} to be sent again"
        return f"{detail.get('command')} not answered in time (attempt {detail.get('attempt')})"
    if kind == "operator":
        action = str(detail.get("action", "?"))
        return f"{ACTIONS.get(action, action)} by {detail.get('actor')}: {detail.get('reason')}"
    if kind == "ignored":
        return f"ignored: {detail.get('why')}"
    return kind


def _body(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    body = detail.get("body")
    return body if isinstance(body, Mapping) else {}


def _message(name: str, body: Mapping[str, Any]) -> str:
    if name in ("order.created", "inventory.reserved"):
        items = body.get("items")
        if isinstance(items, list) and items:
            total = _amount(body) if name == "order.created" else None
            return f"{name}: {_items(items)}" + (f", total {total}" if total else "")
    if name == "inventory.insufficient":
        shortages = body.get("shortages") or []
        short = ", ".join(
            f"{s.get('productId')} {s.get('requested')} asked, {s.get('available')} left"
            for s in shortages
            if isinstance(s, Mapping)
        )
        return f"{name}: {short}" if short else name
    if name in ("payment.failed", "payment.refund_failed"):
        return f"{name}: {body.get('reason')} ({body.get('code')})"
    if name == "order.cancel_requested":
        return f"{name} by {body.get('requestedBy')}"
    if name == "order.shipped":
        return f"{name} with {body.get('carrier')} {body.get('trackingNumber')}"
    if name == "order.cancelled" and body.get("reason"):
        return f"{name}: {body['reason']}"
    amount = _amount(body)
    return f"{name}: {amount}" if amount else name


def _items(items: list[Any]) -> str:
    """``2 items at 12.99`` for one line, else each line: ``2 at 12.99, 1 at 3.50``."""
    lines = [i for i in items if isinstance(i, Mapping)]
    if len(lines) == 1:
        line = lines[0]
        quantity = line.get("quantity")
        noun = "item" if quantity == 1 else "items"
        price = line.get("unitPrice")
        return f"{quantity} {noun}" + ("" if price is None else f" at {money(int(price))}")
    return ", ".join(
        f"{i.get('quantity')} at "
        + ("?" if i.get("unitPrice") is None else money(int(i["unitPrice"])))
        for i in lines
    )


def _amount(body: Mapping[str, Any]) -> str | None:
    """The body's amount (or total) with its currency, when it has one."""
    amount = body.get("amount", body.get("totalAmount"))
    if not isinstance(amount, int):
        return None
    currency = body.get("currency")
    return money(amount) + (f" {currency}" if currency else "")


def money(minor: int) -> str:
    """Minor units as a decimal amount: 1299 → ``12.99``."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"
