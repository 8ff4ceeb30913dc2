"""The saga's Prometheus families on both stacks: what a confirmed and a compensated
checkout move, the gauges read from the tables, and ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from saga.app import build_app as build_saga
from tests.support.infra import IN_CI, eventually
from tests.support.stack import Stack
from tests.support.system import System, running_system

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(system: System, component: str = "saga") -> str:
    response = await system.services[component].get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def samples(text: str) -> Samples:
    """Every sample by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def by_outcome(found: Samples, name: str, kind: str = "order") -> dict[str, float]:
    """The samples of a family labelled by kind and outcome, one kind's by outcome."""
    return {
        dict(labels)["outcome"]: v
        for (n, labels), v in found.items()
        if n == name and dict(labels).get("kind") == kind
    }


def by_label(found: Samples, name: str) -> dict[str, float]:
    """The samples of a family with one label, by that label's value."""
    return {labels[0][1]: v for (n, labels), v in found.items() if n == name and len(labels) == 1}


async def checkout(system: System, card: str) -> str:
    product = await system.add_product(price=1250, stock=5)
    shopper = await system.shopper()
    response = await system.checkout(shopper, [(product["id"], 2)], payment_method_id=card)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    await system.settled(shopper, order_id)
    return order_id


async def all_at_rest(system: System) -> Samples:
    """The saga metrics once no saga waits any more (the last replies may still be
    on their way after the order settled)."""
    return await eventually(
        lambda: _scraped(system),
        until=lambda found: (
            all(v == 0 for (name, _), v in found.items() if name == "oms_saga_in_flight")
            and value(found, "oms_saga_finished_total", kind="order", outcome="cancelled") >= 1
        ),
        what="every saga at rest",
    )


async def _scraped(system: System, component: str = "saga") -> Samples:
    return samples(await scrape(system, component))


async def test_a_confirmed_and_a_compensated_checkout_move_the_saga_metrics(
    system: System,
) -> None:
    before = samples(await scrape(system))
    assert value(before, "oms_saga_started_total", kind="order") == 0
    for state in ("reserving_inventory", "charging_payment", "refunding_payment", "failed"):
        assert ("oms_saga_in_flight", (("state", state),)) in before

    await checkout(system, "pm_card_ok")
    await checkout(system, "pm_card_declined")
    after = await all_at_rest(system)

    assert value(after, "oms_saga_started_total", kind="order") == 2
    assert by_outcome(after, "oms_saga_finished_total") == {"completed": 1, "cancelled": 1}
    assert by_outcome(after, "oms_saga_duration_seconds_count") == {"completed": 1, "cancelled": 1}
    # Declined: the reservation is released and the order cancelled; nothing was charged.
    assert by_label(after, "oms_saga_compensations_total") == {"inventory": 1, "order": 1}
    # Every command was answered once, at its first send.
    assert by_label(after, "oms_saga_step_duration_seconds_count") == {
        "inventory.reserve": 2,
        "payment.charge": 2,
        "order.confirm": 1,
        "inventory.release": 1,
        "order.cancel": 1,
    }
    assert not any(name == "oms_saga_resends_total" for name, _ in after)
    assert not any(name == "oms_saga_timeouts_total" for name, _ in after)
    assert value(after, "oms_saga_dead_letters", queue="saga.events") == 0
    # Each component tells its own outbox backlog, all of it published by now.
    for component in ("orders", "inventory", "payments", "saga"):
        found = await eventually(
            lambda c=component: _scraped(system, c),  # type: ignore[misc]
            until=lambda found, c=component: (
                found.get(("oms_outbox_backlog", (("service", c),))) == 0
            ),
            what=f"{component}'s outbox backlog to be 0",
        )
        assert found


async def test_silent_payments_count_timeouts_and_resends_and_the_gauge_outlives_the_process(
    stack: Stack,
) -> None:
    # A deadline of 3 s: long enough for the refund's answer on a busy machine (a
    # timeout of it would count too), short enough for the two of the charge.
    async with running_system(
        stack, faults_enabled=True, saga_step_timeout_seconds=3.0, saga_step_retries=1
    ) as system:
        response = await system.services["payments"].post(
            "/api/v1/_faults",
            json={"message": "payment.charge", "mode": "drop", "times": 2},
            headers=stack.ops(),
        )
        assert response.status_code == 201, response.text
        product = await system.add_product(price=1250, stock=5)
        shopper = await system.shopper()
        response = await system.checkout(shopper, [(product["id"], 1)])
        assert response.status_code == 202, response.text
        await eventually(
            lambda: _scraped(system),
            until=lambda found: value(found, "oms_saga_in_flight", state="charging_payment") == 1,
            timeout=60,
            what="the saga waiting on the charge",
        )

        # Another saga process (or this one restarted) reads the same number from the table.
        restarted = build_saga(system.stack.settings, system.stack.for_component("saga"))
        try:
            transport = httpx.ASGITransport(app=restarted)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                found = samples((await client.get("/metrics")).text)
        finally:
            await restarted.state.service.db.dispose()
        assert value(found, "oms_saga_in_flight", state="charging_payment") == 1
        assert (
            value(found, "oms_saga_started_total", kind="order") == 0
        )  # counters are the process's own

        after = await all_at_rest(system)
        # Sent, timed out, resent, timed out again: then refunded, released, cancelled.
        assert by_label(after, "oms_saga_timeouts_total") == {"payment.charge": 2}
        assert by_label(after, "oms_saga_resends_total") == {"payment.charge": 1}
        assert by_label(after, "oms_saga_compensations_total") == {
            "payment": 1,
            "inventory": 1,
            "order": 1,
        }
        assert by_outcome(after, "oms_saga_finished_total") == {"cancelled": 1}
        # No reply ever answered the charge.
        assert "payment.charge" not in by_label(after, "oms_saga_step_duration_seconds_count")


@pytest.mark.skipif(not IN_CI and shutil.which("promtool") is None, reason="promtool missing")
async def test_promtool_finds_nothing_wrong_with_the_saga_metrics(system: System) -> None:
    await checkout(system, "pm_card_declined")
    for component in ("saga", "orders"):
        process = await asyncio.create_subprocess_exec(
            "promtool",
            "check",
            "metrics",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        said, _ = await process.communicate((await scrape(system, component)).encode())
        assert process.returncode == 0, said.decode()
        assert said.decode() == "", said.decode()  # not even a lint warning
