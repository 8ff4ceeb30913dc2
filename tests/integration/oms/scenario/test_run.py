"""The scenario runner's own promises, on both stacks: a wrong expectation fails
with a readable difference, and a saga exported as a scenario runs again the same
way."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.scenario.client import SystemApi
from oms.scenario.export import export_saga, replay_timeout
from oms.scenario.history import commands_of
from oms.scenario.loader import dump_yaml, load_file
from oms.scenario.results import Difference
from oms.scenario.schedule import FAULTS_OFF, run_scenarios
from oms.scenario.steps.faults import ClearFaults
from oms.scenario.steps.wait import Wait
from tests.support.scenarios import (
    GOOD,
    SILENT_PAYMENTS,
    TIMING,
    InProcessControl,
    explain,
    transports_of,
)
from tests.support.stack import Stack
from tests.support.system import running_system

HAPPY = GOOD.replace("name: tiny", "timeout_seconds: 60").removesuffix(
    "  - order: {order: o1, status: confirmed}\n"
)
"""A checkout of two kettles out of five, with no expectation yet."""


async def test_a_wrong_expectation_fails_with_a_readable_difference(
    stack: Stack, tmp_path: Path
) -> None:
    wrong_stock = tmp_path / "wrong-stock.yaml"
    wrong_stock.write_text(
        HAPPY
        + "  - order: {order: o1, status: confirmed}\n"
        + "  - stock: {product: kettle, available: 4}\n"  # 5 - 2 is 3
    )
    wrong_steps = tmp_path / "wrong-steps.yaml"
    wrong_steps.write_text(
        HAPPY + "  - saga: {order: o1, steps: [payment.charge, inventory.reserve]}\n"
    )
    files = [load_file(wrong_stock), load_file(wrong_steps)]

    async with running_system(stack, **TIMING) as system:
        results = await run_scenarios(
            files, system.stack.settings.model_copy(update=TIMING), transports=transports_of(system)
        )

    stock, steps = results
    assert (stock.outcome, steps.outcome) == ("failed", "failed"), explain(results)
    assert stock.difference == Difference("stock of kettle available", "4", "3")
    assert steps.difference is not None
    assert steps.difference.what == ("saga o1 steps (in this order, others may come between)")
    assert steps.difference.expected == "payment.charge → inventory.reserve"
    assert steps.difference.seen == "inventory.reserve → payment.charge → order.confirm"
    assert steps.difference.saga_id == steps.orders["o1"]
    report = explain(results)
    assert "expected: 4" in report
    assert "seen:     3" in report
    assert f"oms saga show {steps.orders['o1']}" in report


FAULTY_RUNS = {
    "silent-payments": SILENT_PAYMENTS,
    "declined-card": """\
setup:
  products: {kettle: {price: 1250, stock: 5}, mug: {price: 900, stock: 1}}
  users: {ada: {payment_methods: {card: pm_card_declined}}}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 2, mug: 1}, payment_method: card}
expect:
  - saga: {order: o1, state: cancelled}
""",
    "refund-declined-then-retried": """\
setup:
  saga: {compensation_retries: 1, compensation_backoff_seconds: 0.2}
  products: {kettle: {price: 1250, stock: 5}}
  users: {ada: {}}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 1}}
  - wait: {order: o1, state: completed}
  - fault: {message: payment.refund, mode: decline, times: 2}
  - cancel: {order: o1}
  - wait: {order: o1, state: failed}
  - clear_faults: {service: payments}
  - retry: {order: o1, reason: gateway repaired}
expect:
  - saga: {order: o1, state: cancelled}
""",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_saga_exported_from_a_run_under_faults_passes_again_with_the_same_steps(
    stack: Stack, tmp_path: Path
) -> None:
    originals = []
    for name, text in FAULTY_RUNS.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        originals.append(load_file(tmp_path / f"{name}.yaml"))

    async with running_system(stack, **TIMING) as system:
        settings = system.stack.settings.model_copy(update=TIMING)
        transports = transports_of(system)
        first = await run_scenarios(originals, settings, transports=transports)
        assert [r.outcome for r in first] == ["passed"] * len(originals), explain(first)

        api = SystemApi(settings, transports=transports)
        try:
            exported = []
            for result in first:
                scenario = await export_saga(api, result.orders["o1"])
                path = tmp_path / "exported" / f"{result.name}.yaml"
                path.parent.mkdir(exist_ok=True)
                path.write_text(dump_yaml(scenario))
                exported.append(load_file(path))
            again = await run_scenarios(
                exported,
                settings,
                transports=transports,
                control=InProcessControl(stack.transport),
            )
            assert [r.outcome for r in again] == ["passed"] * len(exported), explain(again)
            for before, after in zip(first, again, strict=True):
                original = await api.saga(before.orders["o1"])
                rerun = await api.saga(after.orders["order"])
                assert original is not None
                assert rerun is not None
                assert commands_of(rerun) == commands_of(original), before.name
                assert rerun["state"] == original["state"]
            for before, file in zip(first, exported, strict=True):
                original = await api.saga(before.orders["o1"])
                assert original is not None
                assert file.scenario.timeout_seconds == replay_timeout(original)
        finally:
            await api.aclose()

    # What the export inferred from each history.
    silent, declined, refunds = (f.scenario for f in exported)
    assert [(f.message, f.mode, f.times) for f in silent.setup.faults] == [
        ("payment.charge", "drop", 2)
    ]
    assert declined.setup.users["shopper"].payment_methods == {"card": "pm_card_declined"}
    assert declined.setup.products["product-2"].stock == 1
    assert [(f.message, f.mode, f.times) for f in refunds.setup.faults] == [
        ("payment.refund", "decline", 2)
    ]
    assert [next(iter(type(s).model_fields)) for s in refunds.steps] == [
        "checkout",
        "wait",
        "cancel",
        "wait",
        "clear_faults",
        "retry",
    ]


async def test_a_fault_scenario_is_skipped_with_the_reason_when_the_system_has_faults_off(
    stack: Stack, tmp_path: Path
) -> None:
    faulty = tmp_path / "faulty.yaml"
    faulty.write_text(
        HAPPY.replace(
            "steps:\n",
            "steps:\n  - fault: {message: payment.charge, mode: decline}\n",
            1,
        )
        + "  - order: {order: o1, status: cancelled}\n"
    )
    files = [load_file(faulty)]
    off = {**TIMING, "faults_enabled": False}

    async with running_system(stack, **off) as system:
        api = SystemApi(system.stack.settings, transports=transports_of(system))
        try:
            assert await api.faults_enabled() is False
        finally:
            await api.aclose()
        results = await run_scenarios(
            files, system.stack.settings.model_copy(update=off), transports=transports_of(system)
        )

    [result] = results
    assert result.outcome == "skipped", explain(results)
    assert result.reason == FAULTS_OFF

    async with running_system(stack, **TIMING) as system:
        api = SystemApi(system.stack.settings, transports=transports_of(system))
        try:
            assert await api.faults_enabled() is True
        finally:
            await api.aclose()


RETRIED_WHILE_BACKING_OFF = """\
timeout_seconds: 90
setup:
  saga: {compensation_retries: 3, compensation_backoff_seconds: 1}
  products: {kettle: {price: 1250, stock: 5}}
  users: {ada: {}}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 1}}
  - wait: {order: o1, state: completed}
  - fault: {message: payment.refund, mode: decline, times: 6}
  - cancel: {order: o1}
  - wait: {order: o1, state: refunding_payment, seen: {payment.refund_failed: 2}}
  - retry: {order: o1, reason: first try}
  - wait: {order: o1, state: refunding_payment, seen: {payment.refund_failed: 4}}
  - retry: {order: o1, reason: second try}
expect:
  - saga: {order: o1, state: cancelled}
  - money: {order: o1, captured: 1250, refunded: 1250, net: 0}
"""
"""Six refunds declined, ops retrying twice while the refund backs off (each retry
resends it at once, with a fresh budget of three): seven refunds, the last made."""


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_saga_retried_twice_while_its_refund_backs_off_replays_with_as_many_refunds(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "retried.yaml").write_text(RETRIED_WHILE_BACKING_OFF)
    original_file = load_file(tmp_path / "retried.yaml")

    timing = {**TIMING, "saga_compensation_retries": 3, "saga_compensation_backoff_seconds": 1}
    async with running_system(stack, **timing) as system:
        settings = system.stack.settings.model_copy(update=timing)
        transports = transports_of(system)
        [first] = await run_scenarios([original_file], settings, transports=transports)
        assert first.outcome == "passed", explain([first])

        api = SystemApi(settings, transports=transports)
        try:
            original = await api.saga(first.orders["o1"])
            assert original is not None
            assert commands_of(original).count("payment.refund") == 7
            path = tmp_path / "exported.yaml"
            path.write_text(dump_yaml(await export_saga(api, first.orders["o1"])))
            exported = load_file(path)
            [again] = await run_scenarios(
                [exported],
                settings,
                transports=transports,
                control=InProcessControl(stack.transport),
            )
            assert again.outcome == "passed", explain([again])
            rerun = await api.saga(again.orders["order"])
            assert rerun is not None
        finally:
            await api.aclose()

    assert commands_of(rerun) == commands_of(original)
    assert commands_of(rerun).count("payment.refund") == 7
    waits = [s.wait for s in exported.scenario.steps if isinstance(s, Wait)]
    assert [w.seen for w in waits if w.seen] == [
        {"payment.refund_failed": 2},
        {"payment.refund_failed": 4},
    ]
    assert not any(isinstance(s, ClearFaults) for s in exported.scenario.steps)


SHIPPED_AND_DELIVERED = (
    HAPPY.replace(
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}\n",
        "  - checkout: {order: o1, user: ada, items: {kettle: 2}}\n"
        "  - wait: {order: o1, state: completed}\n"
        "  - ship: {order: o1, carrier: UPS, tracking_number: 1Z999AA10123456784}\n"
        "  - deliver: {order: o1}\n",
    )
    + "  - order: {order: o1, status: delivered}\n"
)


@pytest.mark.timeout(300)
async def test_a_shipped_saga_exports_as_a_shipment_and_passes_again(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "shipped.yaml").write_text(SHIPPED_AND_DELIVERED)
    original = load_file(tmp_path / "shipped.yaml")

    async with running_system(stack, **TIMING) as system:
        settings = system.stack.settings.model_copy(update=TIMING)
        transports = transports_of(system)
        [first] = await run_scenarios([original], settings, transports=transports)
        assert first.outcome == "passed", explain([first])
        api = SystemApi(settings, transports=transports)
        try:
            scenario = await export_saga(api, first.orders["o1"])
            path = tmp_path / "exported" / "shipped.yaml"
            path.parent.mkdir()
            path.write_text(dump_yaml(scenario))
            exported = load_file(path)
            [again] = await run_scenarios([exported], settings, transports=transports)
        finally:
            await api.aclose()

    assert again.outcome == "passed", explain([again])
    assert [next(iter(type(s).model_fields)) for s in exported.scenario.steps] == [
        "checkout",
        "wait",
        "ship",
        "deliver",
    ]
    assert scenario["steps"][2] == {
        "ship": {"order": "order", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"}
    }
    assert {"order": {"order": "order", "status": "delivered"}} in scenario["expect"]
    assert {"stock": {"product": "product-1", "available": 0}} in scenario["expect"]
