"""The token bucket behind 429s: a burst, then one more per refill interval."""

from __future__ import annotations

import pytest

from shared.web.problems import TooManyRequests
from shared.web.ratelimit import RateLimiter
from tests.support.clock import FakeClock


def test_rate_limiter_lets_a_burst_through_then_one_more_per_refill_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 60.0, clock=clock)

    assert [limiter.try_acquire("ada") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("ada") == pytest.approx(20.0)  # one token per 20 s
    assert limiter.try_acquire("grace") == 0.0  # every key has its own bucket
    clock.advance(20.0)
    assert limiter.try_acquire("ada") == 0.0
    assert limiter.try_acquire("ada") > 0


def test_rate_limiter_over_the_limit_raises_429_with_a_whole_second_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 2.5, clock=clock)
    limiter.check("ada")
    clock.advance(1.0)

    with pytest.raises(TooManyRequests) as refused:
        limiter.check("ada", "checkouts")

    assert refused.value.headers == {"Retry-After": "2"}
    assert "too many checkouts" in refused.value.detail


def test_a_refunded_token_is_usable_again_but_never_beyond_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 60.0, clock=clock)
    limiter.refund("ada")  # nothing taken yet: no bucket, nothing to give back
    assert [limiter.try_acquire("ada") for _ in range(2)] == [0.0, 0.0]

    limiter.refund("ada")

    assert limiter.try_acquire("ada") == 0.0
    assert limiter.try_acquire("ada") > 0
    for _ in range(5):
        limiter.refund("ada")
    assert [limiter.try_acquire("ada") == 0.0 for _ in range(3)] == [True, True, False]


def test_rate_limiter_forgets_idle_keys_instead_of_growing_without_bound() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, clock=clock, max_keys=10)
    for n in range(10):
        limiter.try_acquire(f"user-{n}")
    clock.advance(5.0)

    limiter.try_acquire("newcomer")

    assert len(limiter) == 1
