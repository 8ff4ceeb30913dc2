"""What a customer typed is printed as text in an operator's terminal: never a
crash (``[/]``), a live link (``[link=…]``) or an emoji code."""

from __future__ import annotations

import io
import re
from typing import Any

import respx
from typer.testing import CliRunner

from oms.audit import AuditReport, Finding, print_report
from oms.cli.saga import saga_app
from oms.scenario.report import print_results
from oms.scenario.results import ScenarioResult
from oms.terminal import text_console

CLOSING_TAG = "[/]"
LINK = "[link=https://evil.example]RETRY-HERE[/link]"
EMOJI = ":warning:"
HOSTILE = f"price of {CLOSING_TAG} changed {LINK} {EMOJI}"
SAGAS = "http://saga.test/api/v1"


def saga(**changes: Any) -> dict[str, Any]:
    return {
        "id": f"o-1{CLOSING_TAG}",
        "state": "failed",
        "step": None,
        "attempts": 0,
        "version": 3,
        "userId": "u-1",
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:01+00:00",
        "deadlineAt": None,
        "failureReason": HOSTILE,
        "stuck": LINK,
        **changes,
    }


def oms_saga(*args: str) -> tuple[int, str]:
    env = {"OMS_SAGA_URL": "http://saga.test", "COLUMNS": "400"}
    result = CliRunner().invoke(saga_app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@respx.mock
def test_saga_list_and_show_print_markup_in_the_data_as_it_is() -> None:
    respx.get(f"{SAGAS}/sagas").respond(json={"items": [saga()], "nextCursor": None})
    history = [{"at": "2026-01-01T00:00:01+00:00", "text": f"aborted by ops: {HOSTILE}"}]
    respx.get(url__regex=rf"{SAGAS}/sagas/o-1.*").respond(
        json={**saga(), "ahead": [], "history": history}
    )

    code, listing = oms_saga("list")
    assert code == 0, listing
    assert HOSTILE in listing
    assert LINK in listing

    code, shown = oms_saga("show", "o-1")
    assert code == 0, shown
    assert f"reason: {HOSTILE}" in shown
    assert f"aborted by ops: {HOSTILE}" in shown


@respx.mock
def test_an_error_detail_holding_markup_is_printed_as_it_is() -> None:
    respx.get(f"{SAGAS}/sagas/x").respond(404, json={"detail": f"no saga {CLOSING_TAG}"})
    code, output = oms_saga("show", "x")
    assert code == 1
    assert f"404: no saga {CLOSING_TAG}" in output


def test_the_audit_and_the_scenario_report_print_markup_in_the_data_as_it_is() -> None:
    out = io.StringIO()
    console = text_console(file=out, width=400, force_terminal=True)
    report = AuditReport(violations=[Finding(f"o-1{CLOSING_TAG}", HOSTILE)], failed=[LINK])
    print_report(report, console)
    result = ScenarioResult(name=LINK, path="x.yaml", outcome="error", reason=HOSTILE)
    print_results([result], console)
    text = out.getvalue()
    # Styled where the code says so (a colour), but never a link: OSC 8 opens one.
    assert "\x1b]8;" not in text
    shown = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for piece in (HOSTILE, LINK, f"o-1{CLOSING_TAG}"):
        assert piece in shown


def test_a_console_for_data_does_not_read_markup_or_emoji_codes() -> None:
    out = io.StringIO()
    text_console(file=out, width=400).print(HOSTILE)
    assert out.getvalue().strip() == HOSTILE
