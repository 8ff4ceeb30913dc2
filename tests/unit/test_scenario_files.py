"""Scenario files: the library loads, and a bad file is refused before anything runs,
with an error naming the file, the line and the field."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app
from oms.scenario.history import is_subsequence
from oms.scenario.loader import ScenarioFileError, load_directory, load_file
from oms.scenario.report import junit_xml
from oms.scenario.results import Difference, ScenarioResult
from oms.scenario.schedule import exclusive, needs, skip_reason
from oms.scenario.spec import state_matches
from shared.settings import Settings

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
GOOD = """\
name: tiny
setup:
  products:
    kettle: {price: 1250, stock: 5}
  users:
    ada: {}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 2}}
expect:
  - order: {order: o1, status: confirmed}
"""


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_every_library_scenario_loads_and_the_failure_paths_are_all_there() -> None:
    names = {f.name for f in load_directory(LIBRARY)}

    assert {
        "insufficient-stock",
        "payment-declined",
        "participant-silent-timeout",
        "cancel-while-charging",
        "cancel-after-completion",
        "late-reservation-after-release",
        "refund-keeps-failing-then-ops-retry",
        "reply-duplicated-five-times",
        "saga-crash-after-sending-a-command",
        "race-for-the-last-unit",
        "participant-slow-under-the-deadline",
        "participant-slow-over-the-deadline",
        "cancel-right-after-checkout",
        "price-changed-between-quote-and-reservation",
        "poison-message-while-checkouts-run",
    } <= names


def test_a_good_file_loads(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path, GOOD))
    assert loaded.name == "tiny"
    assert not needs(loaded.scenario)
    assert not exclusive(loaded.scenario)


def test_an_unknown_step_kind_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    text = GOOD.replace("  - checkout:", "  - teleport: {order: o1}\n  - checkout:")
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (8, "steps[0]")
    assert "unknown step kind 'teleport'" in message
    assert "checkout" in message  # the kinds it could have been


def test_an_unknown_expectation_kind_is_refused(tmp_path: Path) -> None:
    text = GOOD + "  - vibes: {order: o1}\n"
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (11, "expect[1]")
    assert "unknown expectation kind 'vibes'" in message


def test_a_misspelt_field_and_a_wrong_type_are_refused_each_with_its_line(
    tmp_path: Path,
) -> None:
    text = GOOD.replace(
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}",
        "  - checkout:\n      order: o1\n      user: ada\n      items: {kettle: two}\n"
        "      colour: red",
    )
    problems = refused(write(tmp_path, text))
    assert [(line, field) for line, field, _ in problems] == [
        (11, "steps[0].checkout.items.kettle"),
        (12, "steps[0].checkout.colour"),
    ]
    assert "integer" in problems[0][2]
    assert "Extra inputs" in problems[1][2]


def test_a_missing_field_names_the_step_it_is_missing_from(tmp_path: Path) -> None:
    text = GOOD.replace(
        "{order: o1, user: ada, items: {kettle: 2}}", "{order: o1, items: {kettle: 2}}"
    )
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field, message) == (8, "steps[0].checkout.user", "Field required")


def test_a_name_used_but_never_defined_is_refused(tmp_path: Path) -> None:
    text = GOOD + "  - stock: {product: kettel, available: 3}\n  - money: {order: o2, net: 0}\n"
    problems = refused(write(tmp_path, text))
    assert problems == [
        (11, "expect[1].stock.product", "no product named 'kettel' (defined: kettle)"),
        (12, "expect[2].money.order", "no order named 'o2' (defined: o1)"),
    ]


def test_a_bad_value_inside_a_concurrent_step_is_located(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}",
        "  - concurrently:\n      - checkout: {order: o1, user: ada, items: {kettle: 2}}\n"
        "      - wait: {order: o1, state: nowhere}",
    )
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (10, "steps[0].concurrently[1].wait.state")
    assert "'nowhere' is not a saga state" in message


def test_invalid_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    [(line, _, message)] = refused(write(tmp_path, GOOD.replace("users:", "users: [")))
    assert line == 7
    assert "not valid YAML" in message


def test_a_crash_on_a_message_its_component_does_not_handle_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - checkout:",
        "  - crash: {component: payments, handling: payment.completed}\n  - checkout:",
    )
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (8, "steps[0].crash.handling")
    assert "payments handles commands" in message


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


def test_skips_name_their_reason() -> None:
    files = {f.name: f.scenario for f in load_directory(LIBRARY)}
    settings = Settings()
    assert skip_reason(files["happy-path-web"], settings, None) is None
    assert skip_reason(files["participant-silent-timeout"], settings, None) == (
        "written for OMS_SAGA_STEP_TIMEOUT_SECONDS=3.0; the system runs with 30.0"
    )
    assert "needs restart" in str(
        skip_reason(files["participant-crash-after-commit"], settings, None)
    )


def test_steps_match_as_a_subsequence_and_compensating_matches_every_undo_state() -> None:
    sent = ["inventory.reserve", "payment.charge", "payment.charge", "order.confirm"]
    assert is_subsequence(["inventory.reserve", "order.confirm"], sent, str.__eq__)
    assert not is_subsequence(["order.confirm", "payment.charge"], sent, str.__eq__)
    assert state_matches("compensating", "refunding_payment")
    assert state_matches("terminal", "failed")
    assert not state_matches("completed", "confirming_order")


def test_junit_xml_carries_each_outcome_and_the_first_difference() -> None:
    results = [
        ScenarioResult("ok", "a.yaml", "passed", 1.5, orders={"o1": "id-1"}),
        ScenarioResult(
            "wrong",
            "b.yaml",
            "failed",
            2.0,
            Difference("stock of kettle available", "4", "3"),
        ),
        ScenarioResult("later", "c.yaml", "skipped", reason="pending: needs a fix"),
    ]

    suite = ET.fromstring(junit_xml(results))

    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='wrong']/failure")
    assert failure is not None
    assert failure.get("message") == "stock of kettle available: expected 4, seen 3"
    skipped = suite.find("testcase[@name='later']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "pending: needs a fix"
