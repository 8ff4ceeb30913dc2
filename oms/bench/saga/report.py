"""The tables ``oms bench saga`` prints from its results."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from oms.bench.report import console


def print_result(result: dict[str, Any]) -> None:
    base = result["baseline"]
    runs = result["runs"]
    peer = result.get("peer")
    rows = ([base] if base else []) + ([peer] if peer else []) + runs
    load = (
        f"{result['concurrency']} in flight"
        if result["rate"] is None
        else f"{result['rate']:g} orders/s offered"
    )
    summary = Table(
        title=f"Sagas end to end: {result['sagas']} measured per run, {load}", show_edge=False
    )
    columns = ("system", "sagas/s", "÷ baseline", "p50 ms", "p95 ms", "p99 ms", "CPU ms/saga")
    for column in columns:
        summary.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        latency = row["latency_ms"]
        ratio = row.get("ratio", 1.0 if row is base else None)
        summary.add_row(
            short(row["system"]),
            f"{row['sagas_per_second']:.1f}",
            "" if ratio is None else f"{ratio:.2f}",
            f"{latency['p50']:.0f}",
            f"{latency['p95']:.0f}",
            f"{latency['p99']:.0f}",
            ""
            if row["cpu_ms_per_saga_all"] is None
            else (f"{row['cpu_ms_per_saga_all']:.1f} (own {row['cpu_ms_per_saga_own']:.1f})"),
        )
    console.print(summary)
    for row in rows:
        if row["cancelled"] or row["errors"] or row["lost"]:
            console.print(
                f"{short(row['system'])}: {row['confirmed']} confirmed, "
                f"{row['cancelled']} cancelled, {row['errors']} errors, {row['lost']} lost; "
                f"first error: {row['first_error']}",
                style="yellow",
            )

    names = list(dict.fromkeys(n for row in rows for n in row["cpu_ms_per_saga"]))
    if names:
        processes = Table(
            title="CPU ms per saga | RSS MB at start → end, per process", show_edge=False
        )
        processes.add_column("process")
        for row in rows:
            processes.add_column(short(row["system"]), justify="right")
        for name in names:
            cells = []
            for row in rows:
                if name not in row["cpu_ms_per_saga"]:
                    cells.append("")
                    continue
                rss = row["rss_mb"][name]
                cells.append(
                    f"{row['cpu_ms_per_saga'][name]:.1f} | {rss['start']:.0f} → {rss['end']:.0f}"
                )
            processes.add_row(name, *cells)
        console.print(processes)
    for run in runs:
        if "otlp_exports" in run:
            console.print(
                f"{run['system']}: {run['otlp_exports']} span exports, "
                f"{run['otlp_kb']:.0f} kB (warm-up included)"
            )
        if "ratio" in run:
            console.print(
                Text.assemble(
                    f"{run['system']} ÷ baseline, sagas/s: ",
                    (f"{run['ratio']:.2f}", "bold"),
                    f"  ({run['sagas_per_second']:.1f} against {base['sagas_per_second']:.1f})",
                )
            )
        if "ratio_to_peer" in run and peer is not None:
            console.print(
                Text.assemble(
                    f"{run['system']} ÷ {peer['system']}, sagas/s: ",
                    (f"{run['ratio_to_peer']:.2f}", "bold"),
                    f"  ({run['sagas_per_second']:.1f} against {peer['sagas_per_second']:.1f})",
                )
            )
        if "ratio_to_single" in run:
            console.print(
                Text.assemble(
                    f"{run['system']} ÷ the single node's run before it, sagas/s: ",
                    (f"{run['ratio_to_single']:.2f}", "bold"),
                )
            )
    _print_wakeups_and_batches(runs)


def _print_wakeups_and_batches(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        switches = run.get("context_switches_per_saga")
        if switches:
            console.print(
                f"{short(run['system'])}: context switches per saga (wake-ups and preemptions), "
                + ", ".join(f"{name} {count:.0f}" for name, count in switches.items())
            )
    batched = [run for run in runs if run.get("batch_sizes")]
    if not batched:
        return
    sizes = Table(title="Batch sizes of the measured sagas, per consumer", show_edge=False)
    sizes.add_column("queue")
    for run in batched:
        sizes.add_column(f"{short(run['system'])}: batches, mean, p99", justify="right")
    for queue in sorted({queue for run in batched for queue in run["batch_sizes"]}):
        cells = []
        for run in batched:
            seen = run["batch_sizes"].get(queue)
            cells.append(
                "" if seen is None else f"{seen['batches']}, {seen['mean']:.2f}, {seen['p99']}"
            )
        sizes.add_row(queue, *cells)
    console.print(sizes)


def short(system: str) -> str:
    """A column-wide name: ``baseline``, ``OMS 2 saga``, ``OMS 1 saga batch 16:1``."""
    if system.startswith("baseline"):
        return "baseline"
    if system.startswith("OMS, "):
        rest = system.partition(", ")[2].partition(", ")[2]
        extra = rest.replace("traced at ", "trace ").replace(", ", " ")
        return f"OMS {system.split()[1]} saga" + (f" {extra}" if extra else "")
    return system
