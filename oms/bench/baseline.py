"""The broker-and-database limit: the order saga as a bare aio-pika + asyncpg loop.

No framework, no ORM, no outbox: what is left of a saga when only the work the
broker and the database must do remains.  It runs with the same process layout
as OMS, one process per role (``python -m oms.bench.baseline ROLE``), on the
same topology of quorum queues, and per saga does what OMS does:

==========================  =====================================  ============
step                        transaction                            then
==========================  =====================================  ============
orders, ``POST /orders``    insert the order                       publish ``order.created``
saga, ``order.created``     inbox, insert the saga                 publish ``inventory.reserve``
inventory, reserve          inbox, insert the reservation          publish ``inventory.reserved``
saga, ``inventory.reserved`` inbox, update the saga               publish ``payment.charge``
payments, charge            inbox, insert the payment              publish ``payment.completed``
saga, ``payment.completed`` inbox, update the saga                 publish ``order.confirm``
orders, confirm             inbox, update the order                publish ``order.confirmed``
saga, ``order.confirmed``   inbox, update the saga                 (done)
==========================  =====================================  ============

that is 8 transactions, 7 messages each published with a publisher confirm
(persistent, ``mandatory`` for commands), consumed and acked after the commit.
The ``orders`` role answers ``POST /orders`` over HTTP on uvicorn with a bare
ASGI callable, so the load reaches both systems the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import uvicorn
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

ROLES = ("orders", "saga", "inventory", "payments")
PREFETCH = 32
"""As OMS's default ``OMS_PREFETCH``."""
POOL_SIZE = 10
"""As OMS's pool: five connections and five more under load."""

EXCHANGES = ("orders", "inventory", "payments", "commands")
QUEUES: dict[str, tuple[tuple[str, str], ...]] = {
    "saga.events": (
        ("orders", "order.created"),
        ("orders", "order.confirmed"),
        ("inventory", "inventory.reserved"),
        ("payments", "payment.completed"),
    ),
    "inventory.commands": (("commands", "inventory.*"),),
    "payments.commands": (("commands", "payment.*"),),
    "orders.commands": (("commands", "order.*"),),
}
QUEUE_OF_ROLE = {
    "saga": "saga.events",
    "inventory": "inventory.commands",
    "payments": "payments.commands",
    "orders": "orders.commands",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    consumer text NOT NULL, message_id text NOT NULL, processed_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, message_id));
CREATE TABLE IF NOT EXISTS orders (
    id text PRIMARY KEY, user_id text NOT NULL, status text NOT NULL, body jsonb NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS sagas (
    id text PRIMARY KEY, status text NOT NULL, state jsonb NOT NULL, version int NOT NULL,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
    order_id text PRIMARY KEY, items jsonb NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    order_id text PRIMARY KEY, amount bigint NOT NULL, created_at timestamptz NOT NULL);
"""


async def declare(broker_url: str) -> None:
    """The baseline's exchanges and quorum queues, as OMS declares its own."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        exchanges = {
            name: await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
            for name in EXCHANGES
        }
        for name, bindings in QUEUES.items():
            queue = await channel.declare_queue(
                name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            for exchange, key in bindings:
                await queue.bind(exchanges[exchange], key)


async def create_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


def _now() -> datetime:
    return datetime.now(UTC)


class Role:
    """One role's broker channel (with publisher confirms) and database pool."""

    def __init__(self, name: str, broker_url: str, dsn: str) -> None:
        self.name = name
        self._broker_url = broker_url
        self._dsn = dsn
        self.pool: asyncpg.Pool
        self._connection: aio_pika.abc.AbstractRobustConnection
        self._publisher: AbstractChannel
        self._exchanges: dict[str, AbstractExchange] = {}

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=POOL_SIZE)
        self._connection = await aio_pika.connect_robust(self._broker_url)
        self._publisher = await self._connection.channel(publisher_confirms=True)
        for name in EXCHANGES:
            self._exchanges[name] = await self._publisher.declare_exchange(name, passive=True)

    async def close(self) -> None:
        await self._connection.close()
        await self.pool.close()

    async def publish(
        self, exchange: str, key: str, body: dict[str, Any], correlation: str
    ) -> None:
        """Publish with a publisher confirm, as OMS's outbox relay does."""
        message = aio_pika.Message(
            json.dumps(body, separators=(",", ":")).encode(),
            message_id=str(uuid.uuid4()),
            correlation_id=correlation,
            type=key,
            timestamp=_now(),
            app_id=self.name,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._exchanges[exchange].publish(message, key, mandatory=exchange == "commands")

    async def consume(
        self, queue: str, step: Callable[[asyncpg.Connection, str, dict[str, Any]], Awaitable[Any]]
    ) -> None:
        """For each delivery: one transaction (the inbox, then ``step``), then the
        publish ``step`` returned, then the ack."""
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        declared = await channel.declare_queue(queue, passive=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    self.name,
                    message.message_id,
                    _now(),
                )
                reply = await step(conn, message.type or "", body)
            if reply is not None:
                exchange, key, out = reply
                await self.publish(exchange, key, out, body["orderId"])
            await message.ack()

        await declared.consume(on_message)


# --- the roles' steps -----------------------------------------------------------------

Reply = tuple[str, str, dict[str, Any]] | None


async def saga_step(conn: asyncpg.Connection, kind: str, body: dict[str, Any]) -> Reply:
    order_id = body["orderId"]
    if kind == "order.created":
        await conn.execute(
            "INSERT INTO sagas (id, status, state, version, updated_at)"
            " VALUES ($1, 'reserving', $2, 1, $3)",
            order_id,
            json.dumps({"order": body, "step": "reserve"}),
            _now(),
        )
        items = [{"productId": i["productId"], "quantity": i["quantity"]} for i in body["items"]]
        return "commands", "inventory.reserve", {"orderId": order_id, "items": items}
    following = {
        "inventory.reserved": ("charging", "payment.charge"),
        "payment.completed": ("confirming", "order.confirm"),
        "order.confirmed": ("completed", None),
    }
    status, command = following[kind]
    state = await conn.fetchval(
        "UPDATE sagas SET status = $2, version = version + 1, updated_at = $3"
        " WHERE id = $1 RETURNING state",
        order_id,
        status,
        _now(),
    )
    order = json.loads(state)["order"]
    if command == "payment.charge":
        return (
            "commands",
            command,
            {
                "orderId": order_id,
                "userId": order["userId"],
                "amount": order["totalAmount"],
                "currency": order["currency"],
                "paymentMethodId": order["paymentMethodId"],
            },
        )
    if command == "order.confirm":
        return "commands", command, {"orderId": order_id}
    return None


async def inventory_step(conn: asyncpg.Connection, kind: str, body: dict[str, Any]) -> Reply:
    await conn.execute(
        "INSERT INTO reservations (order_id, items, created_at) VALUES ($1, $2, $3)",
        body["orderId"],
        json.dumps(body["items"]),
        _now(),
    )
    return "inventory", "inventory.reserved", {"orderId": body["orderId"], "items": body["items"]}


async def payments_step(conn: asyncpg.Connection, kind: str, body: dict[str, Any]) -> Reply:
    await conn.execute(
        "INSERT INTO payments (order_id, amount, created_at) VALUES ($1, $2, $3)",
        body["orderId"],
        body["amount"],
        _now(),
    )
    reply = {"orderId": body["orderId"], "paymentId": str(uuid.uuid4()), "amount": body["amount"]}
    return "payments", "payment.completed", reply


async def orders_step(conn: asyncpg.Connection, kind: str, body: dict[str, Any]) -> Reply:
    await conn.execute(
        "UPDATE orders SET status = 'confirmed', updated_at = $2 WHERE id = $1",
        body["orderId"],
        _now(),
    )
    return "orders", "order.confirmed", {"orderId": body["orderId"]}


STEPS = {"saga": saga_step, "inventory": inventory_step, "payments": payments_step}


# --- the orders role's HTTP side ------------------------------------------------------


def orders_http(role: Role) -> Callable[..., Awaitable[None]]:
    """``POST /api/v1/orders`` (insert, commit, publish ``order.created``, answer 201)
    and ``GET /health/ready``, as a bare ASGI callable."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "GET":
            await _answer(send, 200, {"status": "ready"})
            return
        chunks = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        order = json.loads(b"".join(chunks))
        order_id = str(uuid.uuid4())
        total = sum(i["quantity"] * i["unitPrice"] for i in order["items"])
        created = {
            "orderId": order_id,
            "userId": order["userId"],
            "items": order["items"],
            "totalAmount": total,
            "currency": order["currency"],
            "paymentMethodId": order["paymentMethodId"],
        }
        now = _now()
        async with role.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO orders (id, user_id, status, body, created_at, updated_at)"
                " VALUES ($1, $2, 'pending', $3, $4, $4)",
                order_id,
                order["userId"],
                json.dumps(order),
                now,
            )
        await role.publish("orders", "order.created", created, order_id)
        await _answer(send, 201, {"id": order_id, "status": "pending"})

    return app


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# --- running a role -------------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to :func:`run`, which stops the consumer too."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(role_name: str, broker_url: str, dsn: str, host: str, port: int) -> None:
    role = Role(role_name, broker_url, dsn)
    await role.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if role_name == "orders":
            await role.consume(QUEUE_OF_ROLE["orders"], orders_step)
            config = uvicorn.Config(
                orders_http(role), host=host, port=port, log_config=None, access_log=False
            )
            server = _QuietServer(config)
            serving = asyncio.create_task(server.serve())
            await stop.wait()
            server.should_exit = True
            await serving
        else:
            await role.consume(QUEUE_OF_ROLE[role_name], STEPS[role_name])
            await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await role.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--broker", required=True, help="amqp:// URL")
    parser.add_argument("--database", required=True, help="postgresql:// DSN")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the orders role's HTTP port")
    args = parser.parse_args()
    from uvicorn.loops.auto import auto_loop_factory

    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(run(args.role, args.broker, args.database, args.host, args.port))


if __name__ == "__main__":
    main()
