"""``oms bench``: the qualities of the design measured, as a table and a JSON file.

* ``oms bench saga``: sagas per second, latency and CPU per saga of every
  process, next to a bare aio-pika + asyncpg loop doing the same messages and
  transactions in the same run (:mod:`oms.bench.saga`, :mod:`oms.bench.baseline`);
* ``oms bench bff``: an aggregated page against the calls it makes (:mod:`oms.bench.bff`);
* ``oms bench handlers``: the participants' command handlers and the order placement,
  µs per message in one process without a broker (:mod:`oms.bench.handlers`).
"""

from __future__ import annotations

import typer

from oms.bench.bff import bff
from oms.bench.handlers import handlers
from oms.bench.saga import saga

bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks: measured on this machine, printed and written as JSON."
)
bench_app.command("saga")(saga)
bench_app.command("bff")(bff)
bench_app.command("handlers")(handlers)

__all__ = ["bench_app"]
