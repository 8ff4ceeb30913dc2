"""``oms scenario list`` and ``oms scenario run`` on files, before any system runs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from oms.cli import app
from tests.support.scenarios import GOOD, LIBRARY, write


def test_the_cli_refuses_a_bad_directory_before_running_anything(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.yaml")
    write(tmp_path, GOOD.replace("  - order:", "  - vibes:"), "bad.yaml")

    result = CliRunner().invoke(
        app, ["scenario", "run", "--dir", str(tmp_path)], env={"OMS_PORT_OFFSET": "1"}
    )

    assert result.exit_code == 2
    assert f"{tmp_path / 'bad.yaml'}:10: expect[0]" in result.output
    assert "unknown expectation kind 'vibes'" in result.output


def test_the_cli_lists_the_library_with_what_each_scenario_needs() -> None:
    result = CliRunner().invoke(
        app, ["scenario", "list", "--dir", str(LIBRARY)], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert "saga-crash-after-sending-a-command" in result.output
    assert "price-changed-between-quote-and-reservation" in result.output
    assert "needs restart" in result.output
