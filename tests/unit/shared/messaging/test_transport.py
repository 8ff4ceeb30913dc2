"""When a consumer counts as stalled: work in flight and nothing settled for a while."""

from __future__ import annotations

import pytest

from shared.messaging.transport import ConsumerProgress
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def progress(clock: FakeClock) -> ConsumerProgress:
    """A consumer's progress on queue ``q``, timed by ``clock``."""
    return ConsumerProgress("q", clock)


def test_an_idle_consumer_is_never_stalled(clock: FakeClock, progress: ConsumerProgress) -> None:
    clock.advance(3600)
    assert progress.stalled_for() == 0.0


def test_a_busy_spell_is_measured_from_its_start_not_from_the_last_settle_before_it(
    clock: FakeClock, progress: ConsumerProgress
) -> None:
    progress.delivered()
    progress.settled()
    clock.advance(3600)  # idle for an hour
    progress.delivered()
    clock.advance(2)
    assert progress.stalled_for() == 2.0


def test_settling_any_delivery_is_progress_and_settling_all_ends_the_stall(
    clock: FakeClock, progress: ConsumerProgress
) -> None:
    progress.delivered()
    progress.delivered()
    clock.advance(90)
    assert progress.stalled_for() == 90.0
    progress.settled()
    assert (progress.in_flight, progress.stalled_for(), progress.last_settled_at) == (1, 0.0, 1090)
    clock.advance(5)
    assert progress.stalled_for() == 5.0
    progress.settled()
    clock.advance(500)
    assert (progress.in_flight, progress.stalled_for()) == (0, 0.0)
