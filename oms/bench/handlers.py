"""``oms bench handlers``: what the participants' work costs per message, in one
process, without a broker.

The orders, inventory and payments services are built on a fresh database
(SQLite, or a fresh PostgreSQL database), migrated, and driven directly: each
command goes through the service's :class:`~shared.messaging.endpoint.Endpoint`
as a delivery would (a transaction, the inbox claim, the handler, the outbox row,
the commit), one at a time, and ``POST /orders`` through the orders app over an
in-process ASGI client.  Nothing is published (the outbox relays are not started),
and payments charges through :class:`~oms.bench.approving.ApprovingGateway`, a stand-in for the card provider
that answers at once (the provider's own cost is in ``oms bench saga``), so the
figures are the handlers' and the transaction's alone:

* ``message`` µs: the whole delivery, transaction and commit included;
* ``handler`` µs: the handler alone, inside the transaction, and ``its CPU``: this
  process's CPU meanwhile (on PostgreSQL the handler's own Python; on SQLite the
  database's work too);
* ``CPU`` µs: this process's CPU per message (SQLite's work included, PostgreSQL's
  not).  On a busy machine the wall times mostly measure waiting for a core; the
  CPU figures much less so.

The commands run in the order a saga sends them: orders are placed, their stock
reserved, charged, then half the orders confirmed and the other half refunded,
released and cancelled; more orders are placed with an ``Idempotency-Key`` each
(as a BFF places them for a client that sends one), and not driven further.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.table import Table

from card_provider.cards import CARD_OK
from oms.bench.approving import ApprovingGateway
from oms.bench.processes import Infrastructure
from oms.bench.report import console, machine, now
from services.inventory import handlers as inventory_handlers
from services.orders import handlers as orders_handlers
from services.orders.app import build_app as build_orders
from services.payments import handlers as payments_handlers
from shared.auth import mint_token
from shared.messages import (
    CancelOrder,
    ChargePayment,
    ConfirmOrder,
    Message,
    RefundPayment,
    ReleaseInventory,
    ReservedItem,
    ReserveInventory,
)
from shared.messaging.endpoint import Endpoint, MessageHandler
from shared.messaging.envelope import Envelope
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.transport import Incoming
from shared.persistence.outbox import UnitOfWork
from shared.service import Service
from shared.settings import Settings
from shared.web.idempotency import IDEMPOTENCY_HEADER

SERVICES_HOME = Path(__file__).resolve().parents[2] / "services"
PRODUCTS = 40
LINES_PER_ORDER = 2
UNIT_PRICE = 1250
SHOPPER = "bench-shopper"


@dataclass
class Timings:
    """Seconds spent per message, as the messages went."""

    message: list[float] = field(default_factory=list)
    handler: list[float] = field(default_factory=list)
    handler_cpu: list[float] = field(default_factory=list)
    cpu: float = 0.0


@dataclass(frozen=True)
class Measured:
    """One command (or request) kind on one database, in µs per message."""

    database: str
    command: str
    messages: int
    message_us: float
    message_p50_us: float
    handler_us: float | None
    handler_cpu_us: float | None
    cpu_us: float


def _mean_us(seconds: list[float]) -> float | None:
    return round(statistics.fmean(seconds) * 1e6, 1) if seconds else None


def _measured(database: str, command: str, timings: Timings) -> Measured:
    n = len(timings.message)
    return Measured(
        database=database,
        command=command,
        messages=n,
        message_us=round(statistics.fmean(timings.message) * 1e6, 1),
        message_p50_us=round(statistics.median(timings.message) * 1e6, 1),
        handler_us=_mean_us(timings.handler),
        handler_cpu_us=_mean_us(timings.handler_cpu),
        cpu_us=round(timings.cpu / n * 1e6, 1),
    )


class _Timed:
    """Registers a service's handlers on its endpoint, each timed inside its transaction."""

    def __init__(self, endpoint: Endpoint, timings: dict[str, Timings]) -> None:
        self.endpoint = endpoint
        self.timings = timings

    def handles(self, model: type[Message]) -> Callable[[MessageHandler], MessageHandler]:
        timings = self.timings.setdefault(model.type_name, Timings())

        def register(fn: MessageHandler) -> MessageHandler:
            async def timed(uow: UnitOfWork, message: Any, envelope: Envelope) -> None:
                started, cpu = time.perf_counter(), time.process_time()
                await fn(uow, message, envelope)
                timings.handler.append(time.perf_counter() - started)
                timings.handler_cpu.append(time.process_time() - cpu)

            self.endpoint.handles(model)(timed)
            return fn

        return register


def _timed(
    service: Service, register: Callable[[Any], None], timings: dict[str, Timings]
) -> Endpoint:
    """``service``'s endpoint with its handlers registered, each timed."""
    assert service.endpoint is not None
    register(_Timed(service.endpoint, timings))
    return service.endpoint


@contextlib.asynccontextmanager
async def _service(
    name: str, settings: Settings, transport: InProcessTransport
) -> AsyncIterator[Service]:
    service = Service(
        name,
        settings,
        transport,
        migrations=SERVICES_HOME / name / "migrations",
        queue=f"{name}.commands",
    )
    await service.migrate()
    try:
        yield service
    finally:
        await service.db.dispose()


async def _deliver(
    endpoint: Endpoint, messages: Sequence[Message], timings: Timings, *, measured: bool
) -> None:
    """Each message through ``endpoint`` as a first delivery, one after the other."""
    cpu = time.process_time()
    for message in messages:
        order_id: str = getattr(message, "order_id")  # noqa: B009 - every command has one
        envelope = Envelope.wrap(message, app_id="bench", correlation_id=order_id)
        incoming = Incoming(envelope=envelope, message=message, queue=endpoint.queue, attempt=1)
        started = time.perf_counter()
        await endpoint(incoming)
        if measured:
            timings.message.append(time.perf_counter() - started)
    if measured:
        timings.cpu += time.process_time() - cpu
    else:
        timings.handler.clear()
        timings.handler_cpu.clear()


async def _place(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    count: int,
    products: Sequence[str],
    timings: Timings,
    *,
    measured: bool,
    keyed: bool = False,
) -> list[str]:
    """``count`` orders placed through ``POST /orders`` (each with an
    ``Idempotency-Key`` of its own if ``keyed``); their ids."""
    ids: list[str] = []
    cpu = time.process_time()
    for n in range(count):
        body = {
            "userId": SHOPPER,
            "items": [
                {
                    "productId": products[(n + k) % len(products)],
                    "quantity": 1,
                    "unitPrice": UNIT_PRICE,
                }
                for k in range(LINES_PER_ORDER)
            ],
            "currency": "EUR",
            "paymentMethodId": CARD_OK,
        }
        started = time.perf_counter()
        sent = {**headers, IDEMPOTENCY_HEADER: str(uuid.uuid4())} if keyed else headers
        response = await client.post("/api/v1/orders", json=body, headers=sent)
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"POST /orders answered {response.status_code}: {response.text}")
        if measured:
            timings.message.append(elapsed)
        ids.append(response.json()["id"])
    if measured:
        timings.cpu += time.process_time() - cpu
    return ids


async def _seed_products(inventory: Service, count: int) -> list[str]:
    """``count`` products with stock enough for any run."""
    from services.inventory.models import Product

    ids = [str(uuid.uuid4()) for _ in range(count)]
    async with inventory.uow() as uow:
        for n, product_id in enumerate(ids):
            uow.session.add(
                Product(
                    id=product_id,
                    sku=f"BENCH-{n:04d}",
                    name=f"Bench product {n}",
                    price=UNIT_PRICE,
                    currency="EUR",
                    on_hand=10_000_000,
                )
            )
    return ids


def _money(kind: type[ChargePayment] | type[RefundPayment], order_id: str) -> Message:
    """A charge or a refund of one order placed by :func:`_place`."""
    return kind(
        order_id=order_id,
        user_id=SHOPPER,
        amount=UNIT_PRICE * LINES_PER_ORDER,
        currency="EUR",
        payment_method_id=CARD_OK,
    )


def _own_files(url: str) -> dict[str, str]:
    """On SQLite a file per service (``url`` names the first), as ``oms up`` has them."""
    if not url.startswith("sqlite"):
        return {}
    return {
        f"{name}_database_url": url.replace("bench.db", f"{name}.db")
        for name in ("orders", "inventory", "payments")
    }


async def _run(database: str, url: str, count: int, warmup: int) -> list[Measured]:
    settings = Settings(
        database_url=url, jwt_secret=SecretStr(secrets.token_urlsafe(48))
    ).model_copy(update=_own_files(url))
    headers = {"Authorization": f"Bearer {mint_token(settings.jwt_key, sub=SHOPPER)}"}
    transport = InProcessTransport()
    timings: dict[str, Timings] = {}
    placing = Timings()
    placing_keyed = Timings()
    async with contextlib.AsyncExitStack() as stack:
        orders = await stack.enter_async_context(_service("orders", settings, transport))
        inventory = await stack.enter_async_context(_service("inventory", settings, transport))
        payments = await stack.enter_async_context(_service("payments", settings, transport))
        gateway = ApprovingGateway()
        orders_endpoint = _timed(orders, orders_handlers.register, timings)
        inventory_endpoint = _timed(inventory, inventory_handlers.register, timings)
        payments_endpoint = _timed(
            payments, lambda e: payments_handlers.register(e, gateway=gateway), timings
        )
        app = build_orders(settings, transport)
        # The app's own service shares the orders database; its relay never starts.
        await app.state.service.migrate()
        stack.push_async_callback(app.state.service.db.dispose)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        )
        products = await _seed_products(inventory, PRODUCTS)

        for measured, n in ((False, warmup), (True, count)):
            placed = await _place(client, headers, 2 * n, products, placing, measured=measured)
            await _place(client, headers, n, products, placing_keyed, measured=measured, keyed=True)
            lines = {
                order_id: [
                    ReservedItem(product_id=products[(k + j) % len(products)], quantity=1)
                    for j in range(LINES_PER_ORDER)
                ]
                for k, order_id in enumerate(placed)
            }
            rounds: list[tuple[Endpoint, type[Message], list[Message]]] = [
                (
                    inventory_endpoint,
                    ReserveInventory,
                    [ReserveInventory(order_id=o, items=lines[o]) for o in placed],
                ),
                (payments_endpoint, ChargePayment, [_money(ChargePayment, o) for o in placed]),
                (orders_endpoint, ConfirmOrder, [ConfirmOrder(order_id=o) for o in placed[:n]]),
                (payments_endpoint, RefundPayment, [_money(RefundPayment, o) for o in placed[n:]]),
                (
                    inventory_endpoint,
                    ReleaseInventory,
                    [ReleaseInventory(order_id=o) for o in placed[n:]],
                ),
                (
                    orders_endpoint,
                    CancelOrder,
                    [CancelOrder(order_id=o, reason="bench") for o in placed[n:]],
                ),
            ]
            for endpoint, kind, messages in rounds:
                await _deliver(endpoint, messages, timings[kind.type_name], measured=measured)
    results = [
        _measured(database, "POST /orders", placing),
        _measured(database, "POST /orders, keyed", placing_keyed),
    ]
    # Handlers the run drives no message to (the return saga's) have nothing to report.
    results += [_measured(database, name, t) for name, t in timings.items() if t.message]
    return results


def _table(results: Sequence[Measured]) -> Table:
    table = Table(title="µs per message, one at a time, in one process (no broker)")
    for column in ("db", "command", "n", "message", "p50", "handler", "its CPU", "CPU"):
        table.add_column(column, justify="left" if column in {"db", "command"} else "right")
    for r in results:
        table.add_row(
            r.database,
            r.command,
            str(r.messages),
            f"{r.message_us:.0f}",
            f"{r.message_p50_us:.0f}",
            "" if r.handler_us is None else f"{r.handler_us:.0f}",
            "" if r.handler_cpu_us is None else f"{r.handler_cpu_us:.0f}",
            f"{r.cpu_us:.0f}",
        )
    return table


async def _databases(
    kinds: Sequence[str], infrastructure: Infrastructure
) -> AsyncIterator[tuple[str, str]]:
    for kind in kinds:
        if kind == "sqlite":
            with tempfile.TemporaryDirectory(prefix="oms-bench-") as home:
                yield kind, f"sqlite+aiosqlite:///{home}/bench.db"
        else:
            async with infrastructure.databases(["handlers"]) as made:
                yield kind, infrastructure.database_url(made["handlers"])


async def bench(
    kinds: Sequence[str], count: int, warmup: int, infrastructure: Infrastructure
) -> dict[str, Any]:
    """Each command ``count`` times (after ``warmup``) on each database of ``kinds``
    (``sqlite``, ``postgres``: a fresh database on ``infrastructure``'s server)."""
    results: list[Measured] = []
    async for kind, url in _databases(kinds, infrastructure):
        console.print(f"{kind}: {count} of each command after {warmup} to warm up …")
        results += await _run(kind, url, count, warmup)
    return {
        "benchmark": "handlers",
        "at": now(),
        "machine": machine(),
        "commands": count,
        "warmup": warmup,
        "results": [asdict(r) for r in results],
    }


def print_result(result: dict[str, Any]) -> None:
    console.print(_table([Measured(**r) for r in result["results"]]))
