"""The table ``oms bench bff`` prints from its results."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from oms.bench.report import console


def print_result(result: dict[str, Any]) -> None:
    table = Table(
        title=f"BFF fan-out: {result['requests']} requests per row, "
        f"concurrency {result['concurrency']}, {result['mode']}",
        show_edge=False,
    )
    columns = ("target", "call", "p50 ms", "p99 ms", "req/s", "CPU ms/req", "errors", "degraded")
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "call") else "right")
    rows = [result["aggregate"], *result["downstreams"].values()]
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['component']}: {row['call']}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['throughput_rps']:.0f}",
            f"{row['cpu_ms_per_request']:.1f}",
            str(row["errors"]),
            str(row["degraded"]) if row["name"] == "aggregate" else "",
        )
    console.print(table)
    console.print(
        Text.assemble(
            f"aggregated p50 ÷ slowest single call p50 ({result['slowest_downstream']}): ",
            (f"{result['ratio_p50']:.2f}", "bold"),
            f"  (sum of the single calls' p50: {result['sum_of_downstream_p50_ms']:.1f} ms)",
        )
    )
    console.print(
        Text.assemble(
            "CPU per aggregated page, every serving process: ",
            (f"{result['aggregate']['cpu_ms_per_request']:.1f} ms", "bold"),
        )
    )
