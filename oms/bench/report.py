"""What every benchmark reports alike: the machine, percentiles, the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oms.terminal import text_console

console = text_console()


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def percentiles(values: Sequence[float], *cuts: int) -> dict[str, float]:
    """``{"p50": …, "p99": …}`` of ``values`` in milliseconds (given in seconds)."""
    if len(values) >= 2:
        quantiles = statistics.quantiles(values, n=100, method="inclusive")
        picked = {f"p{c}": quantiles[c - 1] for c in cuts}
    else:
        only = values[0] if values else 0.0
        picked = {f"p{c}": only for c in cuts}
    return {name: round(value * 1000, 3) for name, value in picked.items()}


def write_json(output: Path, result: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {output}")
