"""Riding out a database outage: a primary lost and its standby promoted.

A message whose transaction was cut because the database went away (the
connection dropped mid-way, the server refused, or it answered read-only) is run
again from the start, the same delivery still held, until the database answers
or the patience runs out.  Nothing of the cut transaction was kept, or, when the
cut came after its commit, the inbox makes the second run a no-op.  Retrying in
place rather than handing the message back keeps a short outage from spending
the queue's delivery limit, which would dead-letter work that only had to wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.logging import get_logger
from shared.persistence.database import unavailable_reason

log = get_logger(__name__)
T = TypeVar("T")

FIRST_PAUSE_SECONDS = 0.2
LONGEST_PAUSE_SECONDS = 2.0


async def through_outage(
    call: Callable[[], Awaitable[T]], *, patience: float, what: str = "message"
) -> T:
    """``call()``, run again after a pause while it fails because the database cannot
    be had (:func:`~shared.persistence.database.unavailable_reason`), for at most
    ``patience`` seconds; any other failure, or the last one, is raised."""
    deadline = time.monotonic() + patience
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            return await call()
        except Exception as error:
            reason = unavailable_reason(error)
            if reason is None or time.monotonic() + pause > deadline:
                raise
            log.warning("database.outage_retry", what=what, reason=reason, pause=pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
