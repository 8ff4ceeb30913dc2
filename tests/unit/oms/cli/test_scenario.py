"""``oms scenario list`` and ``oms scenario run`` on files, before any system runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app
from oms.cli.common import console
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


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console 250 columns wide: it takes its width when it is made (at
    import, ``COLUMNS`` unset), 80 where no terminal is attached, as on a test worker."""
    monkeypatch.setattr(console, "_width", 250)


@pytest.mark.usefixtures("wide")
def test_the_cli_lists_the_library_with_what_each_scenario_needs() -> None:
    result = CliRunner().invoke(
        app, ["scenario", "list", "--dir", str(LIBRARY)], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert "saga-crash-after-sending-a-command" in result.output
    assert "price-changed-between-quote-and-reservation" in result.output
    assert "needs restart" in result.output


def test_a_scenario_file_is_taken_by_its_path_and_the_directory_is_not_read(
    tmp_path: Path,
) -> None:
    field = tmp_path / "exported"
    field.mkdir()
    write(field, GOOD.replace("  - order:", "  - ordr:"), "field.yaml")
    write(tmp_path, GOOD.replace("  - order:", "  - vibes:"), "bad.yaml")

    result = CliRunner().invoke(
        app,
        ["scenario", "run", str(field / "field.yaml"), "--dir", str(tmp_path / "none")],
        env={"OMS_PORT_OFFSET": "1", "COLUMNS": "250"},
    )

    # The file was read (its own error, with a suggestion); no directory was.
    assert result.exit_code == 2
    assert f"{field / 'field.yaml'}:10: expect[0]" in result.output
    assert "unknown expectation kind 'ordr' (did you mean 'order'?)" in result.output
    assert "vibes" not in result.output


def test_a_directory_holding_a_checkout_yields_only_its_scenario_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.yaml")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    write(tmp_path / ".venv" / "lib", "not: [a scenario", "broken.yaml")
    write(tmp_path, "services:\n  db:\n    image: postgres\n", "compose.yaml")

    result = CliRunner().invoke(
        app, ["scenario", "list", "--dir", str(tmp_path)], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert "tiny" in result.output
    assert "compose" not in result.output


@pytest.mark.usefixtures("wide")
def test_a_misspelt_scenario_name_offers_the_closest(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("name: tiny", "name: kettle"), "kettle.yaml")

    result = CliRunner().invoke(
        app,
        ["scenario", "run", "kettel", "--dir", str(tmp_path)],
        env={"OMS_PORT_OFFSET": "1", "COLUMNS": "250"},
    )

    assert result.exit_code == 2
    assert "no scenario named 'kettel'" in result.output
    assert "(did you mean 'kettle'?)" in result.output
