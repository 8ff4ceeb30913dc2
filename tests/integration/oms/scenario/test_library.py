"""The QA scenario library (``tests/scenarios/``) against running systems.

In-process on both stacks every scenario runs but those that crash or restart a
component, which need components as processes (``test_processes.py``); a scenario
marked ``pending`` is reported skipped with its reason.  The scenarios run side by
side, as ``oms scenario run --parallel`` runs them.
"""

from __future__ import annotations

import pytest

from oms.scenario.schedule import needs, run_scenarios
from tests.support.infra import RabbitVhost
from tests.support.scenarios import TIMING, InProcessControl, explain, library, scenario_system
from tests.support.stack import Stack

PROCESS_ONLY = {"crash", "restart"}


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_the_library_passes_in_process(stack: Stack, request: pytest.FixtureRequest) -> None:
    vhost: RabbitVhost | None = (
        request.getfixturevalue("rabbit_vhost") if stack.kind == "real" else None
    )
    files = library()
    async with scenario_system(stack, **TIMING) as (settings, transports):
        results = await run_scenarios(
            files,
            settings,
            transports=transports,
            control=InProcessControl(stack.transport, vhost),
            parallel=4,
        )

    report = explain(results)
    by_name = {r.name: r for r in results}
    failed = [r.name for r in results if r.outcome in ("failed", "error")]
    assert failed == [], report
    skipped = {r.name for r in results if r.outcome == "skipped"}
    expected_skips = {
        f.name
        for f in files
        if f.scenario.pending
        or needs(f.scenario) & PROCESS_ONLY
        or (vhost is None and "cut_broker" in needs(f.scenario))
    }
    assert skipped == expected_skips, report
    for name in skipped:
        assert by_name[name].reason, report
