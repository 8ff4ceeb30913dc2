"""A node of every tier lost with checkouts in flight, and every order still ends right.

Each test sends ``IN_FLIGHT`` checkouts through BFF-Web (behind HAProxy), lets the
sagas flow, strikes, and then asks: is every saga at rest, is ``oms audit`` clean
over every saga the cluster ever ran (stock held once, money net right, nothing
parked), was every checkout placed exactly once?  The seconds until sagas flowed
again are printed (``-s``) and recorded in the test report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from oms.audit import run_audit
from oms.cluster import fleet, load, postgres, rabbit
from oms.cluster.layout import NODES, Layout
from shared.settings import PORTS, Settings

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.rabbitmq, pytest.mark.postgres]
IN_FLIGHT = 300
FLOWING = 30
"""Sagas completed before the fault strikes: the flow is established."""

Fault = Callable[[Layout], str]


def stop_leader_of(queue: str) -> Fault:
    def stop(layout: Layout) -> str:
        via = next(n for n in NODES if f"rabbitmq-{n}" in layout.pids)
        leader = rabbit.leader_of(layout, queue, via)
        rabbit.stop_node(layout, leader)
        return f"broker node {leader} (leading {queue}) stopped for good"

    return stop


stop_leader_of_saga_events = stop_leader_of("saga.events")
"""The first strike: every queue's leader and every connection are on that node."""
stop_leader_of_inventory_commands = stop_leader_of("inventory.commands")
"""Later, once leaders have moved: the node leading a participant's queue."""


def kill_one_replica_of_each(layout: Layout) -> str:
    """Replica 1, which consumes at the higher priority: the one doing the work."""
    for component in PORTS:
        fleet.kill(layout, fleet.replica_name(component, 1))
    return "replica 1 of every component SIGKILLed"


def fail_over_database(layout: Layout) -> str:
    promoted = postgres.fail_over(layout)
    return f"PostgreSQL primary SIGKILLed, {promoted} promoted"


def everything(layout: Layout) -> str:
    return "; ".join(
        f(layout)
        for f in (stop_leader_of_inventory_commands, kill_one_replica_of_each, fail_over_database)
    )


@pytest.fixture(scope="package")
def shoppers(cluster: Layout) -> load.Shoppers:
    return asyncio.run(load.Shoppers.register(cluster, fleet.secret(cluster)))


def restore(layout: Layout) -> None:
    """What an earlier fault left down, up again: each test strikes a whole cluster."""
    rabbit.restart_stopped(layout)
    fleet.restart_dead(layout)
    if not postgres.streaming(layout):
        postgres.rebuild_standby(layout)


async def strike(layout: Layout, shoppers: load.Shoppers, fault: Fault) -> dict[str, float]:
    started = datetime.now(UTC)
    sending = asyncio.create_task(load.checkouts(layout, shoppers, IN_FLIGHT))
    flowing = time.monotonic() + 180
    while time.monotonic() < flowing:
        await asyncio.sleep(0.5)
        completed = await load.completed_since(layout, started)
        if completed >= FLOWING:
            break
    fault_at = datetime.now(UTC)
    what = await asyncio.to_thread(fault, layout)
    batch = await sending
    assert not batch.refused, f"checkouts never accepted: {batch.refused[:5]}"
    assert len(batch.order_ids) == IN_FLIGHT
    assert len(set(batch.order_ids)) == IN_FLIGHT, "a checkout was placed twice"
    outcome = await load.settle(layout, batch.order_ids)
    assert not outcome.unsettled, {s: outcome.statuses[s] for s in outcome.unsettled[:10]}
    settled = (max(outcome.ended_at.values()) - fault_at).total_seconds()
    audit_began = time.monotonic()
    report = await run_audit(audit_settings(layout))
    audit_seconds = time.monotonic() - audit_began
    assert report.clean(strict=True), report.violations[:10]
    figures = {
        "in_flight": IN_FLIGHT,
        "completed": sum(1 for s in outcome.statuses.values() if s == "completed"),
        "recovery_seconds": round(load.recovery(fault_at, outcome), 1),
        "settled_seconds": round(settled, 1),
        "checkout_retries": batch.retries,
        "audited_sagas": report.sagas,
        "audit_seconds": round(audit_seconds, 1),
    }
    print(f"\n{what}: {figures}")
    return figures


def audit_settings(layout: Layout) -> Settings:
    urls = {f"{c.replace('-', '_')}_url": layout.public_url(c) for c in PORTS}
    return Settings(jwt_secret=fleet.secret(layout), **urls)


@pytest.mark.timeout(900)  # the first one starts the cluster (two to three minutes here)
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(stop_leader_of_saga_events, id="broker-leader-stopped"),
        pytest.param(kill_one_replica_of_each, id="replicas-killed"),
        pytest.param(fail_over_database, id="database-primary-killed"),
        pytest.param(everything, id="all-three"),
    ],
)
def test_checkouts_in_flight_all_end_right_through_a_fault(
    cluster: Layout,
    shoppers: load.Shoppers,
    fault: Fault,
    record_property: Callable[[str, object], None],
) -> None:
    restoring = time.monotonic()
    restore(cluster)
    restored = time.monotonic() - restoring
    figures = asyncio.run(strike(cluster, shoppers, fault))
    figures["restore_seconds"] = round(restored, 1)
    print(f"the cluster before it restored in {restored:.1f}s")
    for name, value in figures.items():
        record_property(name, value)
    assert figures["completed"] == IN_FLIGHT
