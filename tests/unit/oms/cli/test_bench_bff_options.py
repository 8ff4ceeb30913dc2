"""``oms bench bff --downstream-latency P50,P99 --spike SHARE,MS``: what they accept
and how a wrong value is refused, before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oms.bench.bff.latency import Spike, parse_latency, parse_spike
from oms.cli import app


def test_the_latency_and_the_spike_are_read_as_milliseconds_and_a_share() -> None:
    assert parse_latency("20,100") == (20.0, 100.0)
    assert parse_latency("2.5,2.5") == (2.5, 2.5)
    assert parse_spike("0.01,500") == Spike(0.01, 500)


@pytest.mark.parametrize("value", ["20", "20,100,300", "a,b", "100,20", "0,10", "-1,10"])
def test_a_latency_that_is_not_p50_then_a_larger_p99_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="P50"):
        parse_latency(value)


@pytest.mark.parametrize("value", ["0.01", "0,500", "1.5,500", "0.01,-1", "0.01,half"])
def test_a_spike_that_is_not_a_share_and_a_delay_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="SHARE"):
        parse_spike(value)


def test_the_command_refuses_a_wrong_latency_before_starting_anything() -> None:
    run = CliRunner().invoke(app, ["bench", "bff", "--downstream-latency", "100,20"])

    assert run.exit_code == 2
    assert "0 < P50 <= P99" in run.output
