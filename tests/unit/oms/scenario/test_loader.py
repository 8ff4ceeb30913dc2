"""Scenario files: the library loads, and a bad file is refused before anything runs,
with an error naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.scenario.loader import ScenarioFileError, load_directory, load_file
from oms.scenario.schedule import exclusive, needs
from tests.support.scenarios import GOOD, LIBRARY, write


def refused(path: Path) -> list[tuple[int, str, str]]:
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def steps_first(*steps: str) -> str:
    """The good file with ``steps`` before its checkout, one a line."""
    return GOOD.replace(
        "  - checkout:", "".join(f"  - {step}\n" for step in steps) + "  - checkout:"
    )


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
        "ship-and-deliver",
        "cancel-racing-a-shipment",
        "shipment-after-an-accepted-cancel",
        "shipped-while-the-saga-undoes",
    } <= names


def test_a_good_file_loads(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path, GOOD))
    assert loaded.name == "tiny"
    assert not needs(loaded.scenario)
    assert not exclusive(loaded.scenario)


def test_an_unknown_step_kind_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    text = steps_first("teleport: {order: o1}")
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
    assert problems[1][2] == "unknown field 'colour'"


def test_a_misspelt_field_of_a_kind_named_as_its_field_reads_plainly(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - order: {order: o1, status: confirmed}", "  - order: {order: o1, staus: confirmed}"
    )
    problems = refused(write(tmp_path, text))
    assert [(field, message) for _, field, message in problems] == [
        ("expect[0].order.staus", "unknown field 'staus' (did you mean 'status'?)")
    ]


def test_the_second_expectation_s_misspelt_field_reads_as_its_path_in_the_file(
    tmp_path: Path,
) -> None:
    text = GOOD + "  - order: {order: o1, staus: confirmed}\n"
    problems = refused(write(tmp_path, text))
    assert problems == [
        (11, "expect[1].order.staus", "unknown field 'staus' (did you mean 'status'?)")
    ]


def test_a_misspelt_field_deep_in_the_set_up_is_offered_the_field_it_resembles(
    tmp_path: Path,
) -> None:
    text = GOOD.replace("ada: {}", "ada: {addresses: {home: {citty: Leeds}}}")
    problems = refused(write(tmp_path, text))
    assert [(field, message) for _, field, message in problems] == [
        ("setup.users.ada.addresses.home.citty", "unknown field 'citty' (did you mean 'city'?)")
    ]


def test_an_unknown_field_like_no_other_is_offered_nothing(tmp_path: Path) -> None:
    text = GOOD.replace("{order: o1, status: confirmed}", "{order: o1, xyzzy: 1}")
    [(_, _, message)] = refused(write(tmp_path, text))
    assert message == "unknown field 'xyzzy'"


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
        (
            11,
            "expect[1].stock.product",
            "no product named 'kettel' (did you mean 'kettle'?); defined: kettle",
        ),
        (12, "expect[2].money.order", "no order named 'o2'; defined: o1"),
    ]


def test_a_misspelt_name_is_reported_with_every_other_error_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("items: {kettle: 2}}", "items: {kettel: 2}, colour: red}") + (
        "  - stock: {product: kettel, available: 3}\n  - money: {order: o1, nett: 0}\n"
    )
    problems = refused(write(tmp_path, text))
    assert problems == [
        (8, "steps[0].checkout.colour", "unknown field 'colour'"),
        (11, "expect[1].stock.product", problems[1][2]),
        (12, "expect[2].money.nett", "unknown field 'nett' (did you mean 'net'?)"),
    ]
    assert problems[1][2].startswith("no product named 'kettel' (did you mean 'kettle'?)")


def test_past_a_step_that_cannot_be_read_its_orders_are_not_held_against_the_file(
    tmp_path: Path,
) -> None:
    """The broken checkout may have defined ``o1``: only what is surely wrong is told."""
    text = GOOD.replace("items: {kettle: 2}}", "items: {kettle: two}}") + (
        "  - stock: {product: kettel, available: 3}\n"
    )
    problems = refused(write(tmp_path, text))
    assert [(line, field) for line, field, _ in problems] == [
        (8, "steps[0].checkout.items.kettle"),
        (11, "expect[1].stock.product"),
    ]


def test_every_field_that_names_something_is_checked_alone_in_a_list_or_as_a_key(
    tmp_path: Path,
) -> None:
    text = (
        GOOD.replace("items: {kettle: 2}}", "items: {kettle: 2, teapot: 1}}")
        + "  - order: {order: o1, same_as: o9}\n"
        + "  - outcomes: {orders: [o1, o7], confirmed: 1}\n"
        + "  - orders: {user: bob, count: 1}\n"
        + "  - http: {request: r1, status: 200}\n"
        + "  - dead_letter: {message: m1}\n"
    )
    text = text.replace("steps:\n", "steps:\n  - wait: {order: o3, state: completed}\n")
    problems = refused(write(tmp_path, text))
    assert problems == [
        (8, "steps[0].wait.order", "no order named 'o3'; defined: none"),
        (9, "steps[1].checkout.items.teapot", "no product named 'teapot'; defined: kettle"),
        (12, "expect[1].order.same_as", "no order named 'o9'; defined: o1"),
        (13, "expect[2].outcomes.orders[1]", "no order named 'o7'; defined: o1"),
        (14, "expect[3].orders.user", "no user named 'bob'; defined: ada"),
        (15, "expect[4].http.request", "no request named 'r1'; defined: o1"),
        (16, "expect[5].dead_letter.message", "no message named 'm1'; defined: none"),
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


def test_a_wait_names_a_saga_state_or_an_order_status_one_of_them(tmp_path: Path) -> None:
    for wait in ("{order: o1, state: completed, status: shipped}", "{order: o1}"):
        text = GOOD.replace(
            "  - checkout: {order: o1, user: ada, items: {kettle: 2}}",
            f"  - checkout: {{order: o1, user: ada, items: {{kettle: 2}}}}\n  - wait: {wait}",
        )
        [(line, field, message)] = refused(write(tmp_path, text))
        assert (line, field) == (9, "steps[1].wait")
        assert "a saga state or an order status, one of them" in message


def test_a_race_names_the_cancel_and_the_shipment_it_compares(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}",
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}\n"
        "  - ship: {order: o1, request: s1, status: [200, 409]}",
    )
    text += "  - first_wins: {order: o1, cancel: c1, shipment: s1}\n"
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (12, "expect[1].first_wins.cancel")
    assert message == "no request named 'c1'; defined: o1, s1"


def test_invalid_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    [(line, _, message)] = refused(write(tmp_path, GOOD.replace("users:", "users: [")))
    assert line == 7
    assert "not valid YAML" in message


def test_a_crash_on_a_message_its_component_does_not_handle_is_refused(tmp_path: Path) -> None:
    text = steps_first("crash: {component: payments, handling: payment.completed}")
    [(line, field, message)] = refused(write(tmp_path, text))
    assert (line, field) == (8, "steps[0].crash.handling")
    assert "payments handles commands" in message


def test_a_message_outside_the_catalogue_is_refused_in_a_fault_and_a_crash(
    tmp_path: Path,
) -> None:
    text = steps_first(
        "fault: {message: payment.teleport, mode: drop}",
        "crash: {component: saga, handling: inventory.vanished}",
    )
    problems = refused(write(tmp_path, text))
    assert [(line, field) for line, field, _ in problems] == [
        (8, "steps[0].fault.message"),
        (9, "steps[1].crash.handling"),
    ]
    assert "'payment.teleport' is not a message of the catalogue" in problems[0][2]
    assert "'inventory.vanished' is not a message of the catalogue" in problems[1][2]


def test_steps_done_by_a_control_capability_need_the_one_of_their_name(tmp_path: Path) -> None:
    text = steps_first(
        "publish: {routing_key: inventory.reserve}",
        "cut_broker: {}",
        "restart: {component: saga}",
    )
    loaded = load_file(write(tmp_path, text))
    assert needs(loaded.scenario) == {"publish", "cut_broker", "restart"}


def test_a_wait_for_messages_seen_names_catalogue_messages_at_least_once(tmp_path: Path) -> None:
    text = steps_first(
        "wait: {order: o1, state: failed, seen: {payment.refund_faild: 1}}",
        "wait: {order: o1, state: failed, seen: {payment.refund_failed: 0}}",
    )
    problems = refused(write(tmp_path, text))
    assert [(field, message) for _, field, message in problems if "seen" in field] == [
        ("steps[0].wait.seen", "'payment.refund_faild' is not a message of the catalogue"),
        ("steps[1].wait.seen", "payment.refund_failed: at least 1, not 0"),
    ]


def test_a_return_is_named_by_its_step_and_a_misspelt_one_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    steps = (
        "  - return: {order: o1, items: {kettle: 1}, name: r1}\n"
        "  - receive: {return: r2, items: {kettel: 1}}\n"
        "  - wait_return: {return: r1, state: expird}\n"
    )
    text = GOOD.replace("expect:\n", steps + "expect:\n") + "  - return: {return: r1, staus: x}\n"
    states = "awaiting_receipt, expiring, restocking, refunding, closing, completed, expired"
    assert refused(write(tmp_path, text)) == [
        (10, "steps[2].receive.return", "no return named 'r2'; defined: r1"),
        (
            10,
            "steps[2].receive.items.kettel",
            "no product named 'kettel' (did you mean 'kettle'?); defined: kettle",
        ),
        (
            11,
            "steps[3].wait_return.state",
            f"'expird' is not a saga state; one of {states}, failed, terminal",
        ),
        (14, "expect[1].return.staus", "unknown field 'staus' (did you mean 'status'?)"),
    ]
