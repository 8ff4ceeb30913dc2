"""Returns end to end on both stacks: the library's return scenarios (a return in
full, one in part, one the warehouse never receives, one whose refund keeps being
declined until ops retry), run without the rest of the library; each return saga
exported as a scenario (``oms saga export``) runs again the same; and a return that
is not as a file expects reads as a difference naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.scenario.client import SystemApi
from oms.scenario.export import export_saga
from oms.scenario.loader import dump_yaml
from oms.scenario.schedule import run_scenarios
from tests.support.scenarios import TIMING, explain, library, scenario_file, scenario_system
from tests.support.stack import Stack

RETURNS = (
    "return-in-full",
    "return-in-part",
    "return-expires-unreceived",
    "return-refund-keeps-failing-then-ops-retry",
)
PAID = """\
setup:
  products: {kettle: {price: 1250, stock: 5}}
  users: {ada: {}}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 2}}
  - wait: {order: o1, state: completed}
"""
"""Two kettles bought and paid for: the start of the files below."""
WRONG_REFUND = (
    PAID
    + """\
  - ship: {order: o1}
  - deliver: {order: o1}
  - return: {order: o1, items: {kettle: 2}, name: r1, via: orders}
  - receive: {return: r1, items: {kettle: 1}}
expect:
  - return: {return: r1, status: refunded, refunded: 2500}
"""
)
"""One kettle of two received: 1250 is refunded, not the 2500 the file expects."""
REFUSED_THEN_RECEIVED = (
    PAID
    + """\
  - return: {order: o1, items: {kettle: 2}, name: r1, status: 409}
  - receive: {return: r1, items: {kettle: 2}}
expect:
  - order: {order: o1, status: confirmed}
"""
)
"""A return of an order not yet delivered is refused (409): there is nothing to receive."""


@pytest.mark.timeout(300)
async def test_the_return_scenarios_pass_and_a_wrong_refund_is_a_difference(
    stack: Stack, tmp_path: Path
) -> None:
    files = [
        *library(RETURNS),
        scenario_file(tmp_path / "wrong-refund.yaml", WRONG_REFUND),
        scenario_file(tmp_path / "refused-then-received.yaml", REFUSED_THEN_RECEIVED),
    ]
    assert len(files) == len(RETURNS) + 2
    async with scenario_system(stack, **TIMING) as (settings, transports):
        results = await run_scenarios(files, settings, transports=transports)
        by_name = {r.name: r for r in results}
        async with SystemApi(settings, transports=transports) as api:
            exported = [
                scenario_file(
                    tmp_path / "exported" / f"{name}.yaml",
                    dump_yaml(await export_saga(api, by_name[name].returns["r1"])),
                )
                for name in RETURNS
            ]
        again = await run_scenarios(exported, settings, transports=transports)

    assert [by_name[name].outcome for name in RETURNS] == ["passed"] * len(RETURNS), explain(
        results
    )
    assert all(by_name[name].returns for name in RETURNS), explain(results)
    wrong = by_name["wrong-refund"]
    assert wrong.outcome == "failed", explain(results)
    assert wrong.difference is not None
    assert (wrong.difference.what, wrong.difference.expected, wrong.difference.seen) == (
        "return r1 refunded amount",
        "2500",
        "1250",
    )
    assert wrong.difference.saga_id == wrong.returns["r1"]
    refused = by_name["refused-then-received"]
    assert refused.outcome == "failed", explain(results)
    assert refused.difference is not None
    assert (refused.difference.what, refused.difference.seen) == ("return r1", "none")
    assert refused.returns == {}
    # Each return saga, exported, reproduces the order up to delivery and the return.
    assert [r.outcome for r in again] == ["passed"] * len(RETURNS), explain(again)
    for file in exported:
        kinds = [step.kind() for step in file.scenario.steps]
        assert kinds[:1] == ["checkout"], kinds
        assert {"ship", "deliver", "return"} <= set(kinds), kinds
        assert [e.kind() for e in file.scenario.expect][-2:] in (
            ["return", "audit"],
            ["return"],
        )
