"""Hedged reads: a second copy of a read still unanswered after its usual time.

"The Tail at Scale" (Dean and Barroso): most slow answers are slow by bad luck
(a pause, a busy core, a lost packet), not because the request is hard, so a
copy sent a little later usually answers first.  A BFF page waits for its
slowest part; hedging takes the tail of every part in.

* **When.**  After the read's p95, measured per downstream over its recent
  successful reads (:class:`LatencyWindow`); before enough of them were seen,
  no read is hedged.
* **How many.**  A budget of extra calls (:class:`HedgeBudget`): each read earns
  ``ratio`` of a hedge, a hedge spends one, a few may be saved up.  Over any
  stretch, hedges stay within ``ratio`` of the reads (plus the few saved), so a
  downstream slow for everyone gets a few percent more calls, not twice as many.
* **What.**  Reads only: :class:`~bff.downstream.client.DownstreamClient`
  hedges ``GET`` and nothing else, since a write sent twice may be done twice.

The first answer wins; the other copy is cancelled (its connection closed, so
the service sees the caller go).  An error that is an answer (a 4xx) wins too;
a copy that fails to answer (timeout, connection lost, 5xx) leaves the field to
the other.
"""

from __future__ import annotations

import math
from collections import deque


class LatencyWindow:
    """Recent latencies of one downstream, and a quantile of them.

    The quantile is recomputed every ``refresh`` samples rather than on every
    read: a sort of a few hundred floats, a few times a second at most.
    """

    def __init__(
        self, quantile: float, *, size: int = 512, min_samples: int = 50, refresh: int = 32
    ) -> None:
        if not 0 < quantile < 1:
            raise ValueError("quantile must be between 0 and 1")
        self.quantile = quantile
        self.min_samples = min_samples
        self._samples: deque[float] = deque(maxlen=size)
        self._refresh = refresh
        self._since_refresh = 0
        self._value: float | None = None

    def record(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._since_refresh += 1
        if self._since_refresh >= self._refresh or self._value is None:
            self._since_refresh = 0
            if len(self._samples) >= self.min_samples:
                ordered = sorted(self._samples)
                self._value = ordered[
                    min(len(ordered) - 1, math.ceil(self.quantile * len(ordered)) - 1)
                ]

    def value(self) -> float | None:
        """The quantile in seconds, or ``None`` before ``min_samples`` were recorded."""
        return self._value


class HedgeBudget:
    """Extra calls allowed: ``ratio`` of the reads, at most ``burst`` saved up."""

    def __init__(self, ratio: float, *, burst: float = 3.0) -> None:
        if ratio < 0:
            raise ValueError("ratio must not be negative")
        self.ratio = ratio
        self.burst = burst
        self._tokens = min(1.0, burst) if ratio > 0 else 0.0

    def earn(self) -> None:
        """A read went out."""
        self._tokens = min(self.burst, self._tokens + self.ratio)

    def spend(self) -> bool:
        """Take one hedge if the budget has it."""
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
