"""When a saga is *stuck*, and why: the ``stuck`` filter of the list and the reason
each listed saga carries.

A saga is stuck when it is not at rest (``completed``, ``cancelled``, ``failed``;
a return ``expired`` too)
and either

* **retrying**: the command it waits on has been sent more than once, so at least
  one deadline passed without an answer (the participant is down, slow, or
  dropping messages), or
* **overdue**: its deadline passed more than a grace period ago without firing,
  or it waits with no deadline at all; nothing will move it without ops (no
  saga process is polling, or the row was changed by hand).

A saga waiting on its first send, within its deadline, is not stuck however long
the deadline is (``OMS_SAGA_STEP_TIMEOUT_SECONDS``); a ``failed`` saga is at rest
and found with the state filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, text
from sqlmodel import col, select

from saga.definition import TERMINAL, SagaState
from saga.definition.actions import REFUND_SHORT
from saga.models import AT_REST_SQL, SagaDeadlineRow, SagaRow
from saga.returns import TERMINAL as RETURN_TERMINAL
from saga.returns import ReturnState

AT_REST = tuple(sorted({status.value for status in (*TERMINAL, *RETURN_TERMINAL)}))

REFUSED = "refund declined"
"""How a compensation's failure reason starts when the payment service answered it
with a refusal (not a timeout): see ``saga.definition.actions``."""
ANSWERED = ((REFUSED, "declined"), (REFUND_SHORT, "answered short"))
"""A compensation's failure reason that says it was answered, and the word for it."""


@dataclass(frozen=True)
class StuckRule:
    """Stuck means retrying or overdue (module docstring); ``grace_seconds`` is how
    late a deadline may fire before it counts as overdue (a few poll intervals)."""

    grace_seconds: float

    def where(self, now: datetime) -> ColumnElement[bool]:
        """The SQL condition selecting stuck sagas at ``now``."""
        retrying = select(SagaDeadlineRow.saga_id).where(col(SagaDeadlineRow.attempt) > 1)
        return and_(
            # As the partial index over sagas not at rest says it, so it is taken.
            text(AT_REST_SQL),
            or_(
                col(SagaRow.id).in_(retrying),
                col(SagaRow.deadline_at) < now - timedelta(seconds=self.grace_seconds),
                col(SagaRow.deadline_at).is_(None),
            ),
        )

    def why(self, row: SagaRow, state: SagaState | ReturnState, now: datetime) -> str | None:
        """Why the saga is stuck at ``now`` (what it waits on, since when, how many
        attempts), or None when it is not."""
        if state.status.value in AT_REST:
            return None
        waiting = state.current or state.status.value
        since = row.updated_at.isoformat(timespec="seconds")
        if row.deadline_at is None:
            return f"waits on {waiting} with no deadline, unchanged since {since}"
        late = (now - row.deadline_at).total_seconds()
        if late > self.grace_seconds:
            return (
                f"waits on {waiting} (attempt {state.attempt}), deadline overdue by "
                f"{late:.0f} s, unchanged since {since}"
            )
        if state.attempt > 1:
            return _retrying(waiting, state, since)
        return None


def _retrying(waiting: str, state: SagaState | ReturnState, since: str) -> str:
    """A command sent more than once: refused and tried again after a pause (a
    declined refund), or resent for want of an answer."""
    reason = state.reason or ""
    answered = next((word for start, word in ANSWERED if reason.startswith(start)), None)
    if not state.undoing or answered is None:
        return f"waits on {waiting}: sent {state.attempt} times without an answer, last at {since}"
    if state.backing_off:
        return (
            f"{waiting} sent {state.attempt} times and {answered} ({reason}); "
            f"sent again after a pause, unchanged since {since}"
        )
    return (
        f"waits on {waiting}, sent {state.attempt} times; {answered} before "
        f"({reason}), last sent at {since}"
    )
