"""``oms audit``: the saga's invariants, checked across the services' own APIs.

For every saga: a ``completed`` one has its order ``confirmed``, its stock held
exactly as ordered and its total captured once (net of refunds); a
``cancelled`` one has its order ``cancelled``, no stock held and zero net money;
a ``failed`` one is listed for ops.  Across the catalogue: no product's
available stock is negative.  Nothing here reads another service's tables.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from shared.auth import mint_token
from shared.settings import Settings

TERMINAL = {"completed", "cancelled", "failed"}


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


class _Api:
    def __init__(
        self,
        settings: Settings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None,
    ) -> None:
        token = mint_token(settings.jwt_key, sub="oms-audit", roles=["ops"], ttl_seconds=900)
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = {
            name: httpx.AsyncClient(
                base_url=f"{settings.url_for(name)}/api/v1",
                headers=headers,
                timeout=30,
                transport=(transports or {}).get(name),
            )
            for name in ("orders", "inventory", "payments", "saga")
        }
        self.gate = asyncio.Semaphore(16)

    async def get(self, service: str, path: str, **params: Any) -> Any:
        async with self.gate:
            response = await self.clients[service].get(path, params=params or None)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


async def _all_sagas(api: _Api) -> list[dict[str, Any]]:
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


async def _all_products(api: _Api) -> list[dict[str, Any]]:
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


async def _check(api: _Api, saga: dict[str, Any], report: AuditReport) -> None:
    order_id = saga["id"]
    state = saga["state"]
    if state not in TERMINAL:
        report.in_flight.append(order_id)
        return
    if state == "failed":
        report.failed.append(order_id)
        return
    order, reservation, money = await asyncio.gather(
        api.get("orders", f"/orders/{order_id}"),
        api.get("inventory", f"/reservations/{order_id}"),
        api.get("payments", "/payments/summary", orderId=order_id),
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
        if state == "completed":
            if order["status"] != "confirmed":
                problems.append(f"saga completed but order is {order['status']}")
            if held != ordered:
                problems.append(f"stock held {held} differs from ordered {ordered}")
            total = int(order["totalAmount"])
            if money["captured"] != total or net != total:
                problems.append(
                    f"captured {money['captured']} and net {net} differ from total {total}"
                )
        else:  # cancelled
            if order["status"] != "cancelled":
                problems.append(f"saga cancelled but order is {order['status']}")
            if held:
                problems.append(f"cancelled order still holds stock {held}")
            if net != 0:
                problems.append(f"cancelled order nets {net}, not zero")
    report.violations.extend(Finding(order_id, p) for p in problems)


async def run_audit(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> AuditReport:
    api = _Api(settings, transports)
    report = AuditReport()
    try:
        sagas = await _all_sagas(api)
        report.sagas = len(sagas)
        report.states = Counter(s["state"] for s in sagas)
        await asyncio.gather(*(_check(api, s, report) for s in sagas))
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
        console.print(f"[yellow]{len(report.failed)} failed sagas need ops:[/yellow]")
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
        console.print("[green]audit clean: no invariant violated[/green]")


async def audit_some(
    settings: Settings,
    saga_ids: Sequence[str],
    product_ids: Sequence[str],
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> AuditReport:
    """The same checks over some sagas and products only (a QA scenario's own), so
    work running beside them on the same system does not count against them."""
    api = _Api(settings, transports)
    report = AuditReport()
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
        await asyncio.gather(*(_check(api, s, report) for s in sagas))
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
