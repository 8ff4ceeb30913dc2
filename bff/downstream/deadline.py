"""One time budget per incoming request, shared by every downstream call it makes.

A BFF opens ``async with request_deadline(2.0):`` around a request.  Inside it,
:func:`current_deadline` is visible to every call and task (contextvars are
copied into tasks), each downstream call is capped at what is left, and the
remaining budget travels on as ``X-Request-Timeout-Ms`` so the next service
does not keep working on an answer nobody will wait for.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

from shared.clock import Clock

REQUEST_TIMEOUT_HEADER = "X-Request-Timeout-Ms"

CANCEL_GRACE = 0.02
"""How long after a published deadline the hard cancel comes.

Calls capped at the deadline then fail with their own typed error (naming the
service) instead of racing an anonymous cancellation at the same instant.
"""


class Deadline:
    """A point in time by which work must be done, on a monotonic clock."""

    __slots__ = ("_clock", "_expires_at")

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._expires_at = clock() + seconds

    @property
    def expires_at(self) -> float:
        """When the deadline passes, on the scale of its clock."""
        return self._expires_at

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._expires_at - self._clock())

    @property
    def expired(self) -> bool:
        """Whether no time is left."""
        return self.remaining() <= 0.0

    def cap(self, timeout: float | None) -> float:
        """``timeout`` shortened to what is left (all that is left when ``None``)."""
        remaining = self.remaining()
        return remaining if timeout is None else min(timeout, remaining)

    def narrowed(self, seconds: float | None = None, *, reserve: float = 0.0) -> Deadline:
        """A deadline ending ``reserve`` seconds before this one, or in ``seconds`` if sooner."""
        child = Deadline(math.inf if seconds is None else seconds, clock=self._clock)
        # Compared as instants, not as remaining durations: reading the clock
        # twice would let the child outlive its parent by the time in between.
        child._expires_at = min(child._expires_at, self._expires_at - reserve)
        return child

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


_current: ContextVar[Deadline | None] = ContextVar("request_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the request being handled, if one was set."""
    return _current.get()


@contextmanager
def bind_deadline(deadline: Deadline | None) -> Iterator[None]:
    """Make ``deadline`` the current one for the enclosed code (and tasks it starts).

    Only sets the budget downstream calls see; unlike :func:`request_deadline` it
    cancels nothing.
    """
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


@asynccontextmanager
async def request_deadline(seconds: float) -> AsyncIterator[Deadline]:
    """Bound the enclosed block to ``seconds`` and publish the deadline to calls within.

    Downstream calls inside cap themselves at the deadline and fail with
    :class:`~bff.downstream.errors.DownstreamTimeout`.  Whatever does not
    cooperate is cancelled a moment later and :class:`TimeoutError` is raised,
    as with ``asyncio.timeout``.  A nested block never outlives the enclosing one.
    """
    outer = _current.get()
    deadline = outer.narrowed(seconds) if outer is not None else Deadline(seconds)
    with bind_deadline(deadline):
        async with asyncio.timeout(deadline.remaining() + CANCEL_GRACE):
            yield deadline


def budget_header_value(seconds: float) -> str:
    """The ``X-Request-Timeout-Ms`` value for a budget, rounded down to whole ms."""
    return str(max(0, int(seconds * 1000)))


def budget_from_header(value: str | None) -> float | None:
    """Seconds from an incoming ``X-Request-Timeout-Ms``; ``None`` when absent or garbled.

    A service receiving it can open ``request_deadline`` with the smaller of its
    own budget and this one.
    """
    if value is None:
        return None
    try:
        milliseconds = int(value.strip())
    except ValueError:
        return None
    return milliseconds / 1000 if milliseconds >= 0 else None
