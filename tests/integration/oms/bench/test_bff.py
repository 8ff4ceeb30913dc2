"""``oms bench bff`` runs the components for real, measures, prints a table and writes JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app

DOWNSTREAMS = {"orders", "users", "inventory", "payments", "saga"}
MEASURED = {
    "name",
    "component",
    "call",
    "requests",
    "errors",
    "degraded",
    "cpu_ms_per_request",
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "throughput_rps",
}


@pytest.mark.slow
def test_bench_bff_measures_the_order_page_and_each_call_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith("OMS_")]:
        monkeypatch.delenv(variable)  # embedded, on ports of its own choosing
    output = tmp_path / "results" / "bff.json"

    run = CliRunner().invoke(
        app,
        ["bench", "bff", "--requests", "20", "--concurrency", "2", "--output", str(output)],
    )

    assert run.exit_code == 0, run.output
    assert "aggregated p50 ÷ slowest single call p50" in run.output
    result = json.loads(output.read_text())
    assert (result["benchmark"], result["mode"]) == ("bff", "embedded")
    assert (result["requests"], result["concurrency"]) == (20, 2)
    assert result["machine"]["cpus"] >= 1
    assert set(result["downstreams"]) == DOWNSTREAMS
    rows = [result["aggregate"], *result["downstreams"].values()]
    for row in rows:
        assert set(row) == MEASURED
        assert row["requests"] == 20
        assert row["errors"] == 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"] < 30_000
        assert row["throughput_rps"] > 0
        assert row["cpu_ms_per_request"] > 0, row  # the serving process worked for it
    singles = result["downstreams"].values()
    slowest = max(singles, key=lambda m: m["p50_ms"])
    assert result["slowest_downstream"] == slowest["name"]
    assert result["ratio_p50"] == pytest.approx(
        result["aggregate"]["p50_ms"] / slowest["p50_ms"], rel=0.01
    )
    assert result["sum_of_downstream_p50_ms"] == pytest.approx(
        sum(m["p50_ms"] for m in singles), abs=0.01
    )
