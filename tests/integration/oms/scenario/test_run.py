"""The scenario runner's own promises, on both stacks: a wrong expectation fails
with a readable difference, and a saga exported as a scenario runs again the same
way."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.scenario.client import SystemApi
from oms.scenario.export import export_saga, replay_timeout
from oms.scenario.history import commands_of
from oms.scenario.loader import dump_yaml
from oms.scenario.results import Difference
from oms.scenario.schedule import FAULTS_OFF, run_scenarios
from oms.scenario.steps.faults import ClearFaults
from oms.scenario.steps.wait import Wait
from tests.support.infra import eventually
from tests.support.scenarios import (
    GOOD,
    SILENT_PAYMENTS,
    TIMING,
    InProcessControl,
    all_pass,
    explain,
    scenario_file,
    scenario_system,
)
from tests.support.stack import ON_POSTGRES_ONLY, Stack

HAPPY = GOOD.replace("name: tiny", "timeout_seconds: 60").removesuffix(
    "  - order: {order: o1, status: confirmed}\n"
)
"""A checkout of two kettles out of five, with no expectation yet."""


@ON_POSTGRES_ONLY
async def test_a_wrong_expectation_fails_with_a_readable_difference(
    stack: Stack, tmp_path: Path
) -> None:
    files = [
        scenario_file(
            tmp_path / "wrong-stock.yaml",
            HAPPY
            + "  - order: {order: o1, status: confirmed}\n"
            + "  - stock: {product: kettle, available: 4}\n",  # 5 - 2 is 3
        ),
        scenario_file(
            tmp_path / "wrong-steps.yaml",
            HAPPY + "  - saga: {order: o1, steps: [payment.charge, inventory.reserve]}\n",
        ),
    ]

    async with scenario_system(stack, **TIMING) as (settings, transports):
        results = await run_scenarios(files, settings, transports=transports)

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
    originals = [
        scenario_file(tmp_path / f"{name}.yaml", text) for name, text in FAULTY_RUNS.items()
    ]

    async with scenario_system(stack, **TIMING) as (settings, transports):
        first = await all_pass(originals, settings, transports=transports)

        async with SystemApi(settings, transports=transports) as api:
            exported = [
                scenario_file(
                    tmp_path / "exported" / f"{result.name}.yaml",
                    dump_yaml(await export_saga(api, result.orders["o1"])),
                )
                for result in first
            ]
            again = await all_pass(
                exported,
                settings,
                transports=transports,
                control=InProcessControl(stack.transport),
            )
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
    files = [
        scenario_file(
            tmp_path / "faulty.yaml",
            HAPPY.replace(
                "steps:\n",
                "steps:\n  - fault: {message: payment.charge, mode: decline}\n",
                1,
            )
            + "  - order: {order: o1, status: cancelled}\n",
        )
    ]
    off = {**TIMING, "faults_enabled": False}

    async with scenario_system(stack, **off) as (settings, transports):
        async with SystemApi(settings, transports=transports) as api:
            assert await api.faults_enabled() is False
        results = await run_scenarios(files, settings, transports=transports)

    [result] = results
    assert result.outcome == "skipped", explain(results)
    assert result.reason == FAULTS_OFF

    async with (
        scenario_system(stack, **TIMING) as (settings, transports),
        SystemApi(settings, transports=transports) as api,
    ):
        assert await api.faults_enabled() is True


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
    original_file = scenario_file(tmp_path / "retried.yaml", RETRIED_WHILE_BACKING_OFF)

    timing = {**TIMING, "saga_compensation_retries": 3, "saga_compensation_backoff_seconds": 1}
    async with scenario_system(stack, **timing) as (settings, transports):
        [first] = await all_pass([original_file], settings, transports=transports)

        async with SystemApi(settings, transports=transports) as api:
            original = await api.saga(first.orders["o1"])
            assert original is not None
            assert commands_of(original).count("payment.refund") == 7
            exported = scenario_file(
                tmp_path / "exported.yaml",
                dump_yaml(await export_saga(api, first.orders["o1"])),
            )
            [again] = await all_pass(
                [exported],
                settings,
                transports=transports,
                control=InProcessControl(stack.transport),
            )
            rerun = await api.saga(again.orders["order"])
            assert rerun is not None

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
    original = scenario_file(tmp_path / "shipped.yaml", SHIPPED_AND_DELIVERED)

    async with scenario_system(stack, **TIMING) as (settings, transports):
        [first] = await all_pass([original], settings, transports=transports)
        async with SystemApi(settings, transports=transports) as api:
            # The order is delivered once the orders service says so; the saga hears
            # of the shipment a moment later, and only then does its history show it.
            await eventually(
                lambda: api.saga(first.orders["o1"]),
                until=lambda saga: (
                    saga is not None
                    and any(
                        h["kind"] == "message_in" and h["detail"]["type"] == "order.shipped"
                        for h in saga["history"]
                    )
                ),
                what="the saga to hear of the shipment",
            )
            scenario = await export_saga(api, first.orders["o1"])
            exported = scenario_file(tmp_path / "exported" / "shipped.yaml", dump_yaml(scenario))
            await all_pass([exported], settings, transports=transports)

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
