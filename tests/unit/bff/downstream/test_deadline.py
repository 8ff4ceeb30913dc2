from __future__ import annotations

import asyncio

import pytest

from bff.downstream import (
    Deadline,
    budget_from_header,
    current_deadline,
    request_deadline,
)
from tests.support.clock import FakeClock


def test_remaining_counts_down_and_never_goes_negative() -> None:
    clock = FakeClock()
    deadline = Deadline(2.0, clock=clock)

    clock.advance(0.5)
    assert deadline.remaining() == pytest.approx(1.5)
    assert not deadline.expired
    clock.advance(5.0)
    assert deadline.remaining() == 0.0
    assert deadline.expired


def test_cap_shortens_a_timeout_to_what_is_left() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, clock=clock)
    clock.advance(0.25)

    assert deadline.cap(2.0) == pytest.approx(0.75)
    assert deadline.cap(0.5) == pytest.approx(0.5)
    assert deadline.cap(None) == pytest.approx(0.75)


def test_narrowed_deadline_never_outlives_its_parent() -> None:
    clock = FakeClock()
    parent = Deadline(1.0, clock=clock)

    assert parent.narrowed(5.0).remaining() == pytest.approx(1.0)
    assert parent.narrowed(0.3).remaining() == pytest.approx(0.3)
    assert parent.narrowed(reserve=0.1).remaining() == pytest.approx(0.9)
    assert parent.narrowed(0.95, reserve=0.1).remaining() == pytest.approx(0.9)


async def test_request_deadline_is_visible_inside_and_gone_after() -> None:
    assert current_deadline() is None

    async with request_deadline(1.0) as deadline:
        assert current_deadline() is deadline
        seen_in_task = await asyncio.create_task(_current())
        assert seen_in_task is deadline

    assert current_deadline() is None


async def _current() -> Deadline | None:
    return current_deadline()


async def test_nested_request_deadline_cannot_extend_the_outer_one() -> None:
    async with request_deadline(0.5) as outer, request_deadline(10.0) as inner:
        assert inner.expires_at == outer.expires_at


async def test_work_outliving_the_request_deadline_is_cancelled_with_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with request_deadline(0.05):
            await asyncio.sleep(5.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1500", 1.5), (" 250 ", 0.25), ("0", 0.0), (None, None), ("soon", None), ("-5", None)],
)
def test_budget_header_is_parsed_leniently(header: str | None, seconds: float | None) -> None:
    assert budget_from_header(header) == seconds
