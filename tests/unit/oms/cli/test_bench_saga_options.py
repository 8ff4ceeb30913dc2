"""``oms bench saga --batch SIZE[:LANES[:LINGER_MS]],… --peer NAME --beside KINDS``: a wrong value is refused
before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oms.cli import app


@pytest.mark.parametrize("value", ["16:x", "big", "0", "16:0", "16:1:3", "16:1:-1", "16:1:2:9"])
def test_a_batching_that_is_not_sizes_and_lanes_is_refused(value: str) -> None:
    run = CliRunner().invoke(app, ["bench", "saga", "--batch", value])

    assert run.exit_code == 2
    assert "--batch" in run.output


def test_a_peer_the_benchmark_does_not_know_is_refused() -> None:
    run = CliRunner().invoke(app, ["bench", "saga", "--peer", "temporal"])

    assert run.exit_code == 2
    assert "dbos" in run.output


@pytest.mark.parametrize("value", ["compaction", "job,vacuum", ","])
def test_work_beside_the_checkouts_other_than_a_job_or_retention_is_refused(value: str) -> None:
    run = CliRunner().invoke(app, ["bench", "saga", "--beside", value, "--rate", "3"])

    assert run.exit_code == 2
    assert "--beside" in run.output


def test_work_beside_the_checkouts_needs_their_steady_rate() -> None:
    run = CliRunner().invoke(app, ["bench", "saga", "--beside", "job"])

    assert run.exit_code == 2
    assert "--rate" in run.output
