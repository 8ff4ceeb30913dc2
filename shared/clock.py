"""The wall clock every component reads: timezone-aware UTC (STYLE habit 6).

Monotonic time for timeouts is :data:`shared.downstream.deadline.Clock`; this is
the time rows store and messages carry.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, with its offset."""
    return datetime.now(UTC)
