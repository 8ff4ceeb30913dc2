"""A per-key rate limiter (token bucket, in memory) answering 429 with ``Retry-After``.

Each key (a client address, a user id) has a bucket of ``limit`` tokens that
refills at ``limit / window`` tokens per second: a burst of ``limit`` requests
passes, then one more every ``window / limit`` seconds.  Unlike a fixed window
there is no edge at which twice the limit gets through, and unlike a sliding
log it keeps two numbers per key.

In memory, so per process: with several BFF (or users service) processes the
effective limit is their sum, which is fine for what it is for (blunting password
guessing and runaway clients), not for billing.

To count only failures, take a token before the attempt and :meth:`~RateLimiter.refund`
it when the attempt succeeds: concurrent attempts cannot all slip past a check
made before any of them failed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from shared.clock import Clock
from shared.web.problems import TooManyRequests


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """``limit`` requests per ``window`` seconds per key; not thread-safe (one event loop)."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._rate = limit / window
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, key: str) -> float:
        """Take a token for ``key``: 0 when allowed, else the seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(float(self.limit), now)
        else:
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(self.limit), bucket.tokens + elapsed * self._rate)
            bucket.updated_at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def refund(self, key: str) -> None:
        """Give back a token taken for ``key`` (the attempt it paid for did not count)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(float(self.limit), bucket.tokens + 1.0)

    def check(self, key: str, what: str = "requests") -> None:
        """Take a token for ``key`` or raise :class:`TooManyRequests` (429, ``Retry-After``)."""
        wait = self.try_acquire(key)
        if wait > 0:
            raise TooManyRequests(
                f"too many {what}: at most {self.limit} per {self.window:g}s, "
                f"retry in {math.ceil(wait)}s",
                retry_after=max(1, math.ceil(wait)),
            )

    def __len__(self) -> int:
        return len(self._buckets)

    def _make_room(self, now: float) -> None:
        """Forget idle keys once there are too many; a refilled bucket holds no state."""
        if len(self._buckets) < self._max_keys:
            return
        full_after = self.window  # an empty bucket is full again after one window
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if now - bucket.updated_at < full_after
        }
        if len(self._buckets) >= self._max_keys:
            # Every key is busy: drop the longest-idle half rather than grow without bound.
            ordered = sorted(self._buckets.items(), key=lambda item: item[1].updated_at)
            self._buckets = dict(ordered[len(ordered) // 2 :])
