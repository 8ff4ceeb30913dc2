"""``oms audit``: the saga's invariants, checked across the services' own APIs.

For every saga: a ``completed`` one has its order ``confirmed`` (or, past it,
``shipped`` or ``delivered``), its stock held
exactly as ordered and its total captured once (net of refunds), at the
catalogue prices the reservation reports; a ``cancelled`` one has its order
``cancelled``, no stock held and zero net money; a ``failed`` one is listed for
ops.  An order whose cancel was accepted before it was confirmed must not end
confirmed, nor one whose cancel was accepted long ago.  Nothing may wait longer
than ``stale_after`` seconds: a saga not at rest (not ``completed``,
``cancelled`` or ``failed``), or an event parked for a saga that never started.
Across the participants: every capture (payments) and every reservation
(inventory) belongs to an order that has a saga (or had one, removed by
retention); one without was made by a command the saga never sent.  Across the
catalogue: no product's available stock is negative.  Returns
(:mod:`oms.audit_returns`): each restocked once as received and refunded at the
prices paid, no order refunded more than was captured.  Nothing here reads another
service's tables.

A service that answers an error, or cannot be reached, stops the audit with
:class:`AuditError`: what it did not see it cannot call clean.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from oms.audit_api import AuditApi
from oms.audit_cancels import PAID_FOR, cancel_problems, when
from oms.audit_returns import order_returned, return_problems
from saga.stuck import AT_REST
from shared.settings import Settings

CAPTURES = {"captured", "refunded"}
"""Payment statuses whose amount was captured at some point."""
STALE_AFTER_SECONDS = 600.0
"""Longer than any wait the saga makes on its own with the default settings (a
step's deadline, a compensation's backoff), so whatever waits longer is stuck."""


@dataclass
class Finding:
    order_id: str
    problem: str


@dataclass
class AuditReport:
    sagas: int = 0
    states: Counter[str] = field(default_factory=Counter)
    violations: list[Finding] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    products: int = 0

    def clean(self, *, strict: bool = False) -> bool:
        return not self.violations and not (strict and self.in_flight)


async def _all_sagas(api: AuditApi) -> list[dict[str, Any]]:
    sagas: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = await api.get("saga", "/sagas", **params)
        sagas.extend(page["items"])
        cursor = page["nextCursor"]
        if not cursor:
            return sagas


async def _all_products(api: AuditApi) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = await api.get("inventory", "/products", limit=100, offset=offset)
        items = page["items"] if isinstance(page, dict) else page
        products.extend(items)
        if len(items) < 100:
            return products
        offset += 100


def held_items(reservation: dict[str, Any] | None) -> dict[str, int]:
    if reservation is None or reservation.get("status") != "reserved":
        return {}
    return {i["productId"]: int(i["quantity"]) for i in reservation.get("items", [])}


def catalogue_total(reservation: dict[str, Any] | None) -> int | None:
    """What the reserved items cost at the catalogue prices they were reserved at
    (None when the reservation reports no price for some item)."""
    items = (reservation or {}).get("items") or []
    if not items or any(item.get("unitPrice") is None for item in items):
        return None
    return sum(int(item["quantity"]) * int(item["unitPrice"]) for item in items)


async def _check(
    api: AuditApi, saga: dict[str, Any], report: AuditReport, now: datetime, stale_after: float
) -> None:
    order_id = saga["id"]
    state = saga["state"]
    if state not in AT_REST:
        report.in_flight.append(order_id)
        since = when(saga["updatedAt"])
        if now - since > timedelta(seconds=stale_after):
            report.violations.append(
                Finding(
                    order_id,
                    f"saga not at rest: {state} since {since.isoformat()} (over {stale_after:g} s)",
                )
            )
        return
    if state == "failed":
        report.failed.append(order_id)
        return
    if saga.get("kind", "order") != "order":
        report.violations.extend(Finding(order_id, p) for p in await return_problems(api.get, saga))
        return
    order, reservation, money, returned = await asyncio.gather(
        api.get("orders", f"/orders/{order_id}"),
        api.get("inventory", f"/reservations/{order_id}"),
        api.get("payments", "/payments/summary", orderId=order_id),
        order_returned(api.get, order_id),
    )
    problems: list[str] = []
    if order is None:
        problems.append("saga has no order")
    else:
        ordered: dict[str, int] = {}
        for item in order["items"]:
            ordered[item["productId"]] = ordered.get(item["productId"], 0) + int(item["quantity"])
        held = held_items(reservation)
        net = int(money["net"])
        problems.extend(cancel_problems(order, now, stale_after))
        if state == "completed":
            if order["status"] not in PAID_FOR:
                problems.append(f"saga completed but order is {order['status']}")
            if held != ordered:
                problems.append(f"stock held {held} differs from ordered {ordered}")
            total = int(order["totalAmount"])
            if money["captured"] != total or net != total - returned:
                problems.append(
                    f"captured {money['captured']} and net {net} differ from total {total}"
                    + (f" less {returned} refunded for returns" if returned else "")
                )
            problems.extend(_price_problems(order, reservation, int(money["captured"])))
        else:  # cancelled
            if order["status"] != "cancelled":
                problems.append(f"saga cancelled but order is {order['status']}")
            if held:
                problems.append(f"cancelled order still holds stock {held}")
            if net != 0:
                problems.append(f"cancelled order nets {net}, not zero")
    report.violations.extend(Finding(order_id, p) for p in problems)


def _price_problems(
    order: dict[str, Any], reservation: dict[str, Any] | None, captured: int
) -> list[str]:
    """A confirmed order is paid at the catalogue prices its stock was reserved at."""
    priced = catalogue_total(reservation)
    if priced is None:
        return ["the reservation reports no catalogue price for some item"]
    problems = []
    currencies = {item.get("currency") for item in (reservation or {}).get("items", [])}
    if currencies != {order["currency"]}:
        problems.append(
            f"reserved in {', '.join(sorted(map(str, currencies)))}, "
            f"the order is in {order['currency']}"
        )
    if captured != priced:
        problems.append(
            f"captured {captured} differs from {priced}, the catalogue prices it was reserved at"
        )
    return problems


PAGE = 500


async def _pages(api: AuditApi, service: str, path: str) -> list[dict[str, Any]]:
    """Every item of a list ``service`` pages with ``limit`` and ``offset``."""
    found: list[dict[str, Any]] = []
    while True:
        page = await api.get(service, path, limit=PAGE, offset=len(found))
        found.extend(page)
        if len(page) < PAGE:
            return found


async def _orphans(api: AuditApi, report: AuditReport, listed: set[str]) -> None:
    """Every capture and every reservation must belong to an order with a saga: one
    without was made by a command the saga never sent.  An order not among the
    sagas ``listed`` earlier is asked about once more (its saga may have started
    since)."""
    payments, reservations = await asyncio.gather(
        _pages(api, "payments", "/payments"), _pages(api, "inventory", "/reservations")
    )
    candidates = {r["orderId"] for r in (*payments, *reservations)} - listed
    found = await asyncio.gather(*(api.get("saga", f"/sagas/{o}") for o in sorted(candidates)))
    sagas = listed | {saga["id"] for saga in found if saga is not None}
    # A saga retention removed was there: its order's payment and stock are its.
    pruned = await asyncio.gather(
        *(api.get("saga", f"/pruned-sagas/{o}") for o in sorted(candidates - sagas))
    )
    sagas |= {saga["id"] for saga in pruned if saga is not None}
    for payment in payments:
        if payment["orderId"] not in sagas and payment["status"] in CAPTURES:
            report.violations.append(
                Finding(
                    payment["orderId"],
                    f"payment {payment['id']} {payment['status']} "
                    f"{payment['amount']} {payment['currency']} for an order without a saga",
                )
            )
    for reservation in reservations:
        if reservation["orderId"] not in sagas:
            units = sum(int(i["quantity"]) for i in reservation["items"])
            report.violations.append(
                Finding(
                    reservation["orderId"],
                    f"reservation {reservation['status']} ({units} units) "
                    "for an order without a saga",
                )
            )


async def _parked(api: AuditApi, report: AuditReport, stale_after: float) -> None:
    parked = await api.get("saga", "/parked-inputs", olderThan=stale_after) or []
    for item in parked:
        report.violations.append(
            Finding(
                item["sagaId"],
                f"{item['type']} parked since {item['receivedAt']}: its saga never started",
            )
        )


async def run_audit(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    stale_after: float = STALE_AFTER_SECONDS,
) -> AuditReport:
    """Check every invariant; raises :class:`AuditError` when a service fails to answer."""
    api = AuditApi(settings, transports)
    report = AuditReport()
    now = datetime.now(UTC)
    try:
        sagas = await _all_sagas(api)
        report.sagas = len(sagas)
        report.states = Counter(s["state"] for s in sagas)
        await asyncio.gather(*(_check(api, s, report, now, stale_after) for s in sagas))
        await _orphans(api, report, {s["id"] for s in sagas})
        await _parked(api, report, stale_after)
        products = await _all_products(api)
        report.products = len(products)
        for product in products:
            if int(product["available"]) < 0:
                report.violations.append(
                    Finding(product["id"], f"available stock {product['available']} < 0")
                )
    finally:
        await api.aclose()
    return report


def print_report(report: AuditReport, console: Console) -> None:
    states = ", ".join(f"{k} {v}" for k, v in sorted(report.states.items())) or "none"
    console.print(f"{report.sagas} sagas ({states}); {report.products} products")
    if report.failed:
        console.print(f"{len(report.failed)} failed sagas need ops:", style="yellow")
        for order_id in report.failed:
            console.print(f"  oms saga show {order_id}")
    if report.in_flight:
        console.print(f"{len(report.in_flight)} sagas still in flight")
    if report.violations:
        table = Table("order / product", "violation", title="invariant violations")
        for finding in report.violations:
            table.add_row(finding.order_id, finding.problem)
        console.print(table)
    else:
        console.print("audit clean: no invariant violated", style="green")


async def audit_some(
    settings: Settings,
    saga_ids: Sequence[str],
    product_ids: Sequence[str],
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    stale_after: float = STALE_AFTER_SECONDS,
) -> AuditReport:
    """The same checks over some sagas and products only (a QA scenario's own), so
    work running beside them on the same system does not count against them."""
    api = AuditApi(settings, transports)
    report = AuditReport()
    now = datetime.now(UTC)
    try:
        found = await asyncio.gather(*(api.get("saga", f"/sagas/{s}") for s in saga_ids))
        sagas = [saga for saga in found if saga is not None]
        report.violations.extend(
            Finding(saga_id, "no saga for this order")
            for saga_id, saga in zip(saga_ids, found, strict=True)
            if saga is None
        )
        report.sagas = len(sagas)
        report.states = Counter(s["state"] for s in sagas)
        await asyncio.gather(*(_check(api, s, report, now, stale_after) for s in sagas))
        products = await asyncio.gather(
            *(api.get("inventory", f"/products/{p}") for p in product_ids)
        )
        report.products = len(products)
        for product in products:
            if product is not None and int(product["available"]) < 0:
                report.violations.append(
                    Finding(product["id"], f"available stock {product['available']} < 0")
                )
    finally:
        await api.aclose()
    return report
