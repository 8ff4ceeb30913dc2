"""The order saga on DBOS, the durable-workflow library on PostgreSQL a Python
team would pick instead: ``oms bench saga --peer dbos`` runs it beside OMS.

Needs the ``peers`` dependency group (never a runtime dependency of OMS)::

    uv run --group peers python -m oms.bench.peers.dbos_saga --database URL --sagas 600

The same saga as OMS and the bare loop: the order placed in one transaction (the
``POST /orders`` of the others), then a durable workflow of three participant
transactions, each checkpointed by DBOS in the same transaction as its effect:
reserve the stock (inventory), record the payment (payments), confirm the order
(orders).  ``--concurrency`` sagas are in flight at once (a closed loop, one
thread each); a saga's latency runs from the order's placement to its workflow's
result, which the driver waits for in the same process (DBOS's way of seeing a
workflow end: no HTTP hop and no broker, which favours the peer).

The peer uses DBOS's synchronous API (``SQLAlchemyDatasource``, workflows run on
threads), its primary one and the faster here: on this project's 2-core machine,
600 sagas at 16 in flight, 58-61 sagas/s against 38 for the same saga on its
asyncio API (``AsyncSQLAlchemyDatasource``), which hands every step's checkpoint
to a thread with ``asyncio.to_thread``.  The
process prints ``warmed up`` once the warm-up is done, then one JSON object: what
was measured, and the CPU the process used (PostgreSQL's backends are measured by
the caller).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbos import DBOS, DBOSConfig, SQLAlchemyDatasource
from sqlalchemy import text

PRODUCTS = 20
WARMED_UP = "warmed up"
PRICE = 1_250
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, user_id text NOT NULL,"
    " status text NOT NULL, body jsonb NOT NULL, created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS products (id text PRIMARY KEY, stock bigint NOT NULL,"
    " reserved bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS reservations (order_id text PRIMARY KEY, items jsonb NOT NULL,"
    " created_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payments (order_id text PRIMARY KEY, amount bigint NOT NULL,"
    " created_at timestamptz NOT NULL)",
)


class Peer:
    """The datasource and the saga's transactions, registered once DBOS is configured."""

    def __init__(self, ds: SQLAlchemyDatasource) -> None:
        self.ds = ds

        @ds.transaction(isolation_level="READ COMMITTED")
        def reserve(order_id: str, items: list[dict[str, Any]]) -> bool:
            session = ds.sql_session()
            for item in sorted(items, key=lambda i: i["productId"]):
                session.execute(
                    text("UPDATE products SET reserved = reserved + :q WHERE id = :id"),
                    {"q": item["quantity"], "id": item["productId"]},
                )
            session.execute(
                text(
                    "INSERT INTO reservations (order_id, items, created_at)"
                    " VALUES (:id, CAST(:items AS jsonb), now())"
                ),
                {"id": order_id, "items": json.dumps(items)},
            )
            return True

        @ds.transaction(isolation_level="READ COMMITTED")
        def charge(order_id: str, amount: int) -> None:
            ds.sql_session().execute(
                text("INSERT INTO payments (order_id, amount, created_at) VALUES (:id, :a, now())"),
                {"id": order_id, "a": amount},
            )

        @ds.transaction(isolation_level="READ COMMITTED")
        def confirm(order_id: str) -> None:
            ds.sql_session().execute(
                text("UPDATE orders SET status = 'confirmed', updated_at = now() WHERE id = :id"),
                {"id": order_id},
            )

        @DBOS.workflow()
        def order_saga(order_id: str, items: list[dict[str, Any]], amount: int) -> str:
            if not reserve(order_id, items):
                return "cancelled"
            charge(order_id, amount)
            confirm(order_id)
            return "confirmed"

        self.order_saga = order_saga

    def setup(self) -> list[str]:
        products = [str(uuid.uuid4()) for _ in range(PRODUCTS)]
        with self.ds.engine.begin() as conn:
            for statement in SCHEMA:
                conn.execute(text(statement))
            conn.execute(
                text("INSERT INTO products (id, stock) VALUES (:id, 1000000000)"),
                [{"id": p} for p in products],
            )
        return products

    def place(self, products: list[str], items: int) -> tuple[str, list[dict[str, Any]]]:
        """The order's own transaction, as ``POST /orders`` does it."""
        order_id = str(uuid.uuid4())
        lines = [
            {"productId": p, "quantity": 1, "unitPrice": PRICE}
            for p in random.sample(products, items)
        ]
        with self.ds.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orders (id, user_id, status, body, created_at, updated_at)"
                    " VALUES (:id, 'bench', 'pending', CAST(:body AS jsonb), now(), now())"
                ),
                {"id": order_id, "body": json.dumps({"items": lines})},
            )
        return order_id, lines

    def one(self, products: list[str], items: int) -> float:
        started = time.perf_counter()
        order_id, lines = self.place(products, items)
        amount = sum(line["quantity"] * line["unitPrice"] for line in lines)
        # Called, not started in the background: the workflow is recorded durably
        # when it starts all the same, and its result needs no second look-up.
        self.order_saga(order_id, lines, amount)
        return time.perf_counter() - started


def closed_loop(
    peer: Peer, products: list[str], sagas: int, concurrency: int, items: int
) -> list[float]:
    with ThreadPoolExecutor(concurrency, thread_name_prefix="saga") as pool:
        return list(pool.map(lambda _: peer.one(products, items), range(sagas)))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(args: argparse.Namespace) -> dict[str, Any]:
    url = args.database.replace("postgresql+asyncpg://", "postgresql://")
    DBOS(
        config=DBOSConfig(
            name="oms-bench-peer",
            system_database_url=url,
            log_level="WARNING",
            run_migrations=True,
        )
    )
    # A connection for every saga in flight, as the threads would otherwise queue for one.
    ds = SQLAlchemyDatasource.create(url, engine_kwargs={"pool_size": args.concurrency + 2})
    peer = Peer(ds)
    DBOS.launch()
    try:
        products = peer.setup()
        closed_loop(peer, products, args.warmup, args.concurrency, args.items)
        print(WARMED_UP, flush=True)  # the caller starts metering PostgreSQL's backends
        cpu, started = _cpu_seconds(), time.perf_counter()
        latencies = closed_loop(peer, products, args.sagas, args.concurrency, args.items)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu
    finally:
        DBOS.destroy()
    return {
        "sagas": len(latencies),
        "elapsed": elapsed,
        "latencies": latencies,
        "cpu_seconds": cpu,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a fresh database")
    parser.add_argument("--sagas", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(main(args)))


if __name__ == "__main__":
    cli()
