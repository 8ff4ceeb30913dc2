"""The end of a run: a pass/fail table with each failure's first difference, and
JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from oms.scenario.results import ScenarioResult

STYLE = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}


def print_results(results: Sequence[ScenarioResult], console: Console) -> None:
    table = Table("scenario", "result", "s", "first difference / reason", title="scenarios")
    for result in results:
        if result.difference is not None:
            d = result.difference
            detail = f"{d.what}\n  expected: {d.expected}\n  seen:     {d.seen}"
            if d.saga_id:
                detail += f"\n  saga {d.saga_id}: {d.link}"
            for name, trail in result.trail.items():
                detail += f"\n  {name}: {trail}"
        else:
            detail = result.reason or ""
        table.add_row(
            result.name,
            Text(result.outcome, style=STYLE[result.outcome]),
            f"{result.seconds:.1f}",
            detail,
        )
    console.print(table)
    counts = Counter(r.outcome for r in results)
    console.print(", ".join(f"{counts[o]} {o}" for o in ("passed", "failed", "error", "skipped")))


def junit_xml(results: Sequence[ScenarioResult], *, suite: str = "oms scenarios") -> str:
    counts = Counter(r.outcome for r in results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname="scenarios",
            name=result.name,
            file=result.path,
            time=f"{result.seconds:.3f}",
        )
        if result.outcome == "failed" and result.difference is not None:
            failure = ET.SubElement(case, "failure", message=result.difference.describe())
            failure.text = result.difference.describe()
        elif result.outcome == "error":
            ET.SubElement(case, "error", message=result.reason or "error").text = result.reason
        elif result.outcome == "skipped":
            ET.SubElement(case, "skipped", message=result.reason or "")
        if result.orders:
            ET.SubElement(case, "system-out").text = "\n".join(
                [f"order {name}: {order_id}" for name, order_id in result.orders.items()]
                + [f"saga of {name}: {trail}" for name, trail in result.trail.items()]
            )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Sequence[ScenarioResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results))
