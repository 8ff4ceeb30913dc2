"""What ops see first, on both stacks: the dashboard at 1,000 sagas in a real browser
(a dense list, the detail in view while scrolling, dead letters on a tab of their
own, the diagram's path and next steps, the bulk dialog's filter in words and
count), ``oms saga`` saying what is true of a saga and who acted, and the bulk
dry-run (``POST /sagas/{retry,abort}/dry-run``) both are built on.

The 1,000 sagas are copies of a few real ones (their rows and timelines, under new
ids), written straight into the saga's tables: 1,000 checkouts would take minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from oms.cli.saga import saga_app
from saga.models import SagaHistoryRow, SagaRow
from shared.clock import utcnow
from tests.integration.saga.test_e2e import (
    API,
    Checkout,
    cancel,
    place,
    saga_of,
    saga_reaches,
)
from tests.integration.saga.test_ops import need_chromium, ops_dashboard, screenshots
from tests.integration.saga.test_ops_actions import bulk
from tests.support.infra import eventually
from tests.support.stack import ON_POSTGRES_ONLY, TEST_JWT_SECRET, Stack, on_socket
from tests.support.system import System, hand_made, running_system

"""Screenshots of the dashboard (git-ignored)."""
DECLINED = "refund declined: the refund was declined (refund_declined)"
COPIES = {"completed": 600, "cancelled": 250, "failed": 146}
"""How many copies of each real saga the list holds besides the originals."""


@pytest.fixture
async def declining_shop(stack: Stack) -> AsyncIterator[System]:
    """Every component; a declined refund is tried three more times, a second apart
    and then longer, before its saga is ``failed``: long enough to see it retrying."""
    async with running_system(
        stack,
        faults_enabled=True,
        saga_compensation_retries=3,
        saga_compensation_backoff_seconds=1.0,
    ) as running:
        yield running


async def refund_refused(system: System) -> tuple[Checkout, dict[str, Any]]:
    """A cancelled order paid with the card that declines every refund: the saga as
    it retries the refund (declined at least once), then once ``failed``."""
    placed = await place(system, payment_method_id="pm_card_refund_declined")
    await saga_reaches(system, placed.order_id, "completed")
    await cancel(system, placed)
    retrying = await eventually(
        lambda: saga_of(system, placed.order_id),
        until=lambda s: s["state"] == "refunding_payment" and s["attempts"] >= 2,
        what="the refund to be declined and sent again",
    )
    await saga_reaches(system, placed.order_id, "failed")
    return placed, retrying


async def oms_saga(url: str, *args: str, answer: str | None = None) -> tuple[int, str]:
    """``oms saga ARGS`` at 80 columns, its output not a terminal, ``answer`` typed in."""
    env = {"OMS_SAGA_URL": url, "OMS_JWT_SECRET": TEST_JWT_SECRET, "COLUMNS": "80"}
    result = await asyncio.to_thread(
        CliRunner().invoke, saga_app, list(args), input=answer, env=env
    )
    return result.exit_code, result.output


async def dry_run(system: System, action: str, selection: dict[str, Any]) -> dict[str, Any]:
    """What the bulk ``action`` would do to ``selection``, done to nothing."""
    return await bulk(system, f"{action}/dry-run", selection)


async def operators(system: System, order_id: str) -> list[str]:
    saga = await saga_of(system, order_id)
    return [h["text"] for h in saga["history"] if h["kind"] == "operator"]


@ON_POSTGRES_ONLY
async def test_a_declined_refund_is_worded_as_declined_and_a_retry_warns_before_asking(
    declining_shop: System,
) -> None:
    system = declining_shop
    refused, retrying = await refund_refused(system)
    # Retrying a declined refund is not "sent N times without an answer".
    assert retrying["stuck"] is not None
    assert "without an answer" not in retrying["stuck"]
    assert DECLINED in retrying["stuck"]
    assert f"sent {retrying['attempts']} times" in retrying["stuck"]

    done = await place(system)
    await saga_reaches(system, done.order_id, "completed")

    plan = await dry_run(system, "retry", {"filter": {"state": "failed"}})
    assert (plan["described"], plan["selects"], plan["mostAtOnce"]) == (
        "every failed saga",
        1,
        500,
    )
    [doubt] = plan["doubts"]
    assert doubt["id"] == refused.order_id
    assert DECLINED in doubt["why"]
    assert "retried" not in doubt["why"]
    stuck = await dry_run(system, "abort", {"filter": {"stuck": True, "userId": "u-1"}})
    assert stuck == {
        "action": "abort",
        "described": "every stuck saga of customer u-1",
        "selects": 0,
        "mostAtOnce": 500,
        "doubts": [],
    }
    by_ids = await dry_run(system, "retry", {"ids": [done.order_id, refused.order_id]})
    assert (by_ids["described"], by_ids["selects"]) == ("2 sagas named by id", 2)
    assert [d["id"] for d in by_ids["doubts"]] == [refused.order_id]
    refused_body = await system.services["saga"].post(
        f"{API}/sagas/retry/dry-run", json={"filter": {}}, headers=system.stack.ops()
    )
    assert refused_body.status_code == 422, refused_body.text

    async with on_socket(system.apps["saga"]) as url:
        # A no: the warning came first, nothing was retried, and the command says so.
        code, declined = await oms_saga(
            url, "retry", "--state", "failed", "--reason", "try again", answer="n\n"
        )
        assert code == 1, declined
        warning = declined.index("1 of the 1 sagas failed on a refusal")
        assert warning < declined.index("retry 1 saga (every failed saga)?")
        assert f"{refused.order_id}: failed on a refusal, not a timeout: {DECLINED}" in declined
        assert "not confirmed: nothing was retried" in declined
        assert await operators(system, refused.order_id) == []

        # Recorded as the person: --as, else the token's subject.
        code, retried = await oms_saga(
            url, "--as", "alice", "retry", "--state", "failed", "--reason", "card fixed?", "--yes"
        )
        assert code == 0, retried
        assert "1 of 1 sagas: retry done" in retried
        await saga_reaches(system, refused.order_id, "failed")
        bob = system.stack.token("bob", "ops")
        code, again = await oms_saga(url, "--token", bob, "retry", refused.order_id)
        assert code == 0, again
        await saga_reaches(system, refused.order_id, "failed")
        assert await operators(system, refused.order_id) == [
            "retried by alice: card fixed?",
            "retried by bob: retried from the CLI",
        ]
        [doubt] = (await dry_run(system, "retry", {"ids": [refused.order_id]}))["doubts"]
        assert doubt["why"].endswith("retried 2 times already, and failed again")


@ON_POSTGRES_ONLY
async def test_oms_saga_prints_whole_ids_json_and_what_is_true_of_a_saga(
    declining_shop: System,
) -> None:
    system = declining_shop
    refused, _ = await refund_refused(system)
    done = await place(system)
    await saga_reaches(system, done.order_id, "completed")

    async with on_socket(system.apps["saga"]) as url:
        code, listing = await oms_saga(url, "list")
        assert code == 0, listing
        heading, *lines = listing.splitlines()
        assert heading.split("\t") == [
            "saga",
            "state",
            "where",
            "v",
            "created",
            "reason",
            "stuck",
        ]
        # Whole ids at 80 columns, newest first, one tab-separated line a saga.
        assert [line.split("\t")[0] for line in lines] == [done.order_id, refused.order_id]
        assert lines[0].split("\t")[1:3] == ["completed", "at rest"]
        assert lines[1].split("\t")[1:3] == [
            "failed",
            "a retry resumes with payment.refund (sent 4 times so far)",
        ]

        code, as_json = await oms_saga(url, "list", "--state", "failed", "--json")
        assert code == 0, as_json
        page = json.loads(as_json)
        assert [s["id"] for s in page["items"]] == [refused.order_id]
        assert page["nextCursor"] is None

        code, empty = await oms_saga(url, "list", "--state", "cancelling_order")
        assert (code, empty.strip()) == (0, "no saga matches")

        code, shown = await oms_saga(url, "show", done.order_id)
        assert code == 0, shown
        assert shown.splitlines()[0] == f"{done.order_id} completed: at rest (version 4)"
        assert "step=" not in shown
        assert "attempts" not in shown
        code, failed = await oms_saga(url, "show", refused.order_id)
        assert code == 0, failed
        assert failed.splitlines()[0].startswith(
            f"{refused.order_id} failed: a retry resumes with payment.refund (sent 4 times so far)"
        )
        assert "waits on" not in failed
        assert f"reason: {DECLINED}" in failed
        code, detail = await oms_saga(url, "show", refused.order_id, "--json")
        assert code == 0, detail
        assert json.loads(detail)["failureReason"] == DECLINED

        code, replayed = await oms_saga(url, "replay", done.order_id, "--json")
        assert code == 0, replayed
        assert json.loads(replayed)["ok"] is True

        code, nothing = await oms_saga(url, "abort", "--state", "cancelling_order")
        assert (code, nothing.strip()) == (0, "no saga matches: every cancelling_order saga")
        code, both = await oms_saga(url, "--as", "alice", "--token", "x", "list")
        assert code == 2, both


async def copy_sagas(system: System, originals: dict[str, str]) -> int:
    """Write ``COPIES`` of each original saga (its row and timeline under a new id),
    created a few seconds apart over the last hour and before the originals."""
    db = system.apps["saga"].state.runtime.db
    now = utcnow()
    async with db.sessions() as session:
        rows = {
            row.status: row
            for row in (
                await session.exec(
                    select(SagaRow).where(col(SagaRow.id).in_(list(originals.values())))
                )
            ).all()
        }
        history = (
            await session.exec(
                select(SagaHistoryRow).where(
                    col(SagaHistoryRow.saga_id).in_(list(originals.values()))
                )
            )
        ).all()
        copied = 0
        for state, count in COPIES.items():
            original = rows[state]
            entries = [h for h in history if h.saga_id == original.id]
            for _ in range(count):
                copied += 1
                saga_id = str(uuid.uuid4())
                created = now - timedelta(seconds=30 + 3 * copied)
                session.add(
                    SagaRow(
                        id=saga_id,
                        status=original.status,
                        state={**original.state, "sagaId": saga_id},
                        version=original.version,
                        definition_version=original.definition_version,
                        user_id=original.user_id,
                        created_at=created,
                        updated_at=created + timedelta(seconds=2),
                        deadline_at=None,
                    )
                )
                session.add_all(
                    SagaHistoryRow(
                        saga_id=saga_id,
                        at=created + (h.at - original.created_at),
                        kind=h.kind,
                        detail=h.detail,
                        message_id=None,
                        definition_version=h.definition_version,
                    )
                    for h in entries
                )
        await session.commit()
    return copied


async def dead_letter(system: System) -> str:
    """A malformed ``order.created``, which the saga dead-letters; its message id."""
    bad = hand_made("orders", "order.created", b'{"orderId": 42')
    await system.stack.transport.publish(bad)

    async def letters() -> list[str]:
        response = await system.services["saga"].get(
            f"{API}/dead-letters", headers=system.stack.ops()
        )
        return [letter["messageId"] for letter in response.json()]

    await eventually(letters, until=lambda ids: bad.message_id in ids, what="the dead letter")
    return bad.message_id


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(420)  # a thousand sagas written, then paged through in a browser
# On PostgreSQL alone: a thousand sagas is about the listing's queries at scale.
@ON_POSTGRES_ONLY
async def test_the_dashboard_at_a_thousand_sagas_stays_dense_and_says_what_it_selects(
    declining_shop: System, stack: Stack
) -> None:
    need_chromium()

    system = declining_shop
    shots = screenshots(f"dashboard-1000-{stack.kind}")
    refused, _ = await refund_refused(system)
    done = await place(system)
    await saga_reaches(system, done.order_id, "completed")
    cancelled = await place(system)
    await saga_reaches(system, cancelled.order_id, "completed")
    await cancel(system, cancelled)
    await saga_reaches(system, cancelled.order_id, "cancelled")
    originals = {"completed": done.order_id, "cancelled": cancelled.order_id}
    originals["failed"] = refused.order_id
    total = await copy_sagas(system, originals) + len(originals)
    assert total == 999
    letter = await dead_letter(system)
    ops_token = system.stack.token("alice", "ops")

    async with ops_dashboard(system.apps["saga"], ops_token) as page:
        rows = page.locator("tr.saga")
        await rows.first.wait_for()
        while await page.locator("#more").is_visible():
            shown = await rows.count()
            await page.click("#more")
            await page.wait_for_function(
                "n => document.querySelectorAll('tr.saga').length > n", arg=shown
            )
        assert await rows.count() == total
        await page.locator("#letters-count").get_by_text("(1)").wait_for()

        # Dense: every saga one line, the reason cut with the whole on hover.
        heights = await rows.evaluate_all(
            "rs => rs.map(r => Math.round(r.getBoundingClientRect().height))"
        )
        assert max(heights) <= 28, max(heights)
        height = await page.evaluate("document.documentElement.scrollHeight")
        assert height < total * 28 + 1000, height
        reason = page.locator(f'tr.saga[data-id="{refused.order_id}"] td.reason')
        whole = f"{DECLINED} · a retry resumes with payment.refund (sent 4 times so far)"
        assert await reason.get_attribute("title") == whole
        assert await reason.evaluate("td => td.scrollWidth > td.clientWidth")
        # Newest first by creation, which is the time shown.
        newest = await saga_of(system, cancelled.order_id)
        first = rows.first
        assert await first.get_attribute("data-id") == cancelled.order_id
        created = await first.locator("td.created").get_attribute("title")
        assert created is not None
        assert created.startswith(f"created {newest['createdAt']}")
        assert "created" in await page.locator("thead th.at").inner_text()
        # Dead letters are a tab of their own, not below the list.
        assert not await page.locator("#letters-panel").is_visible()
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(shots / "1-list.png"))

        # The detail of a saga far down the list stays in view as the list scrolls.
        target = page.locator(f'tr.saga[data-id="{refused.order_id}"]')
        await target.locator("td.id").click()
        await page.locator("#detail-where").wait_for()
        where = await page.locator("#detail-where").inner_text()
        assert where == "a retry resumes with payment.refund (sent 4 times so far)"
        assert "waits on" not in await page.locator("#detail").inner_text()
        await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        box = await page.locator("#detail").bounding_box()
        assert box is not None
        assert 0 <= box["y"] < 40, box

        # The diagram: the path taken and the next steps, the rest only on demand,
        # its labels at their size.
        current = page.locator("#diagram g.node.current")
        assert await current.get_attribute("data-state") == "failed"
        drawn = await page.locator("#diagram path.edge").evaluate_all(
            "ps => ps.filter(p => getComputedStyle(p).display !== 'none').map(p => p.dataset.edge)"
        )
        assert "failed>refunding_payment" in drawn
        assert "completed>refunding_payment" in drawn
        assert "reserving_inventory>releasing_inventory" not in drawn
        every = await page.locator("#diagram path.edge").count()
        assert len(drawn) < every
        # Failed, it can only resume the refund: the one next step.
        next_steps = await page.locator("#next-steps li").all_inner_texts()
        assert next_steps == ["→ refunding_payment on operator.retry"]
        sizes = await page.locator("#diagram text").evaluate_all(
            "ts => ts.map(t => t.getBoundingClientRect().height)"
        )
        assert min(sizes) >= 12, sizes
        await page.screenshot(path=str(shots / "2-detail-in-view.png"))
        await page.check("#all-edges")
        drawn_all = await page.locator("#diagram path.edge").evaluate_all(
            "ps => ps.filter(p => getComputedStyle(p).display !== 'none').length"
        )
        assert drawn_all == every
        await page.uncheck("#all-edges")

        # A filter change shows the top of the list.
        assert await page.evaluate("window.scrollY") > 1000
        await page.select_option("#filter-state", "failed")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('tr.saga')]"
            ".every(r => r.dataset.state === 'failed')"
        )
        assert await rows.count() == 100  # the first page
        assert await page.evaluate("window.scrollY") == 0
        await page.screenshot(path=str(shots / "3-filtered.png"))

        # The bulk dialog: the filter in words and its count, those a retry
        # cannot help, then the reason.
        await page.click("#retry-filter")
        await page.locator("#reason-dialog[open]").wait_for()
        assert await page.locator("#reason-what").inner_text() == "retry every failed saga"
        count = await page.locator("#reason-count").inner_text()
        assert count == f"{COPIES['failed'] + 1} sagas selected now."
        doubts = await page.locator("#reason-doubts").inner_text()
        assert f"{COPIES['failed'] + 1} of them failed on a refusal" in doubts
        assert await page.locator("#reason-input").is_visible()
        await page.screenshot(path=str(shots / "4-bulk-dialog.png"))
        await page.click("#reason-cancel")
        await page.locator("#reason-dialog[open]").wait_for(state="detached")
        assert await operators(system, refused.order_id) == []

        # Dead letters on their own tab.
        await page.click("#tab-letters")
        await page.locator("#letters-panel").wait_for()
        assert not await page.locator("#sagas-panel").is_visible()
        assert letter in (await page.locator("#letters").text_content() or "")
        await page.screenshot(path=str(shots / "5-dead-letters.png"))
    assert sorted(os.listdir(shots)) == [
        "1-list.png",
        "2-detail-in-view.png",
        "3-filtered.png",
        "4-bulk-dialog.png",
        "5-dead-letters.png",
    ]
