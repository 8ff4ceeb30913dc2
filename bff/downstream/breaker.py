"""A circuit breaker: stop calling a service that keeps failing, probe it now and then.

Policy: **consecutive failures**.  ``failure_threshold`` failed attempts in a
row open the circuit; any success in between resets the count.  A count is
simpler to reason about than a failure ratio and needs no window, and since every
attempt (retries included) is an observation, a service that is really down
trips it within a request or two.

::

    closed ──(failure_threshold failures in a row)──▶ open
      ▲                                                │ reset_timeout passes
      │ probe succeeds                                 ▼
      └──────────────────────────────────────────── half-open ──(probe fails)──▶ open

In half-open exactly one call (the probe) is let through; the others fail fast
until its outcome is known.  What counts as a failure is the caller's call:
:class:`~bff.downstream.client.DownstreamClient` records transport errors,
timeouts and 5xx, and counts a 4xx as a success (the service is up and answering).
"""

from __future__ import annotations

import enum
import time

from shared.clock import Clock


class BreakerState(enum.Enum):
    """Where a circuit breaker stands; see the module docstring for the transitions."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Tracks one downstream's health; not thread-safe (one event loop owns it)."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit reads half-open once the reset timeout passed."""
        if self._state is BreakerState.OPEN and self.retry_after() <= 0:
            return BreakerState.HALF_OPEN
        return self._state

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now.  In half-open, granting it makes it the probe.

        A granted call must end in :meth:`record_success`, :meth:`record_failure`
        or :meth:`release`, or a half-open circuit would wait for its probe forever.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probe_in_flight:
            return False
        self._state = BreakerState.HALF_OPEN
        self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        """A call got an answer: close the circuit (a half-open probe proved health)."""
        if self._state is BreakerState.OPEN:
            # A call sent before the circuit opened says nothing about now; the
            # probe decides.
            return
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        """A call failed: count it, and open the circuit at the threshold or on a failed probe."""
        if self._state is BreakerState.OPEN:
            return
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probe_in_flight = False

    def release(self) -> None:
        """A granted call ended with no verdict (cancelled before an answer): free the probe slot."""
        self._probe_in_flight = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value}, failures={self._failures})"
