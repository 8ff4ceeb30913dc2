"""The wall clock every component reads: timezone-aware UTC (docs/contributing.md, habit 6).

Monotonic time for timeouts and limits is a :data:`Clock`; :func:`utcnow` is
the time rows store and messages carry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Returns seconds on a monotonic scale; injectable so tests can move time by hand."""


def utcnow() -> datetime:
    """Now, in UTC, with its offset."""
    return datetime.now(UTC)
