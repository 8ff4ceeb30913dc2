"""``oms bench saga --quick`` runs OMS and the bare loop for real on RabbitMQ and
PostgreSQL, prints the table with the ratio and writes the JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app
from tests.support.infra import AMQP_BASE, MANAGEMENT_URL, PG_ADMIN_DSN

OMS_PROCESSES = {"card-provider", "orders", "inventory", "payments", "saga"}
BASELINE_PROCESSES = {"orders", "inventory", "payments", "saga"}


@pytest.mark.slow
@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_bench_saga_quick_reports_sagas_per_second_against_the_bare_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith("OMS_")]:
        monkeypatch.delenv(variable)
    output = tmp_path / "results" / "saga.json"
    management = MANAGEMENT_URL.replace("://", "://guest:guest@", 1)

    run = CliRunner().invoke(
        app,
        [
            "bench",
            "saga",
            "--quick",
            "--sagas",
            "6",
            "--warmup",
            "2",
            "--concurrency",
            "2",
            "--amqp",
            AMQP_BASE,
            "--management",
            management,
            "--postgres",
            PG_ADMIN_DSN,
            "--output",
            str(output),
        ],
    )

    assert run.exit_code == 0, run.output
    result = json.loads(output.read_text())
    base, [oms] = result["baseline"], result["runs"]
    assert "OMS, 1 saga process ÷ baseline, sagas/s:" in run.output
    assert f"{oms['ratio']:.2f}" in run.output
    assert (result["sagas"], result["concurrency"], oms["saga_procs"]) == (6, 2, 1)
    for row in (base, oms):
        assert (row["sagas"], row["confirmed"], row["errors"], row["lost"]) == (6, 6, 0, 0), row
        assert row["sagas_per_second"] > 0
        latency = row["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < 120_000
        assert row["cpu_ms_per_saga_own"] > 0
        assert row["cpu_ms_per_saga_all"] >= row["cpu_ms_per_saga_own"]
    assert oms["ratio"] == pytest.approx(
        oms["sagas_per_second"] / base["sagas_per_second"], rel=0.01
    )
    assert result["ratio"] == oms["ratio"]
    assert set(oms["cpu_ms_per_saga"]) == OMS_PROCESSES | {
        "rabbitmq",
        *(f"postgres: {db}" for db in OMS_PROCESSES),
    }
    assert set(base["cpu_ms_per_saga"]) == BASELINE_PROCESSES | {"rabbitmq", "postgres"}
    for name in OMS_PROCESSES:
        assert oms["cpu_ms_per_saga"][name] > 0, name
        assert 10 < oms["rss_mb"][name]["start"] <= oms["rss_mb"][name]["end"] * 1.5, name
