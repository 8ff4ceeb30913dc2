"""What one input did to a saga: :class:`Decision` and its history entries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from saga.definition.state import SagaState, Timer
from shared.messages import Command


class HistoryKind(StrEnum):
    """The kinds of :class:`HistoryEntry`."""

    message_in = "message_in"
    command_out = "command_out"
    transition = "transition"
    timeout = "timeout"
    operator = "operator"
    ignored = "ignored"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a saga's history; the runtime adds the timestamp."""

    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """What one input did to a saga.

    The runtime stores ``state``, appends ``history``, publishes ``commands``
    (through its outbox) and handles the deadline: when ``armed`` is set it
    schedules it ``armed.after_seconds`` from now, replacing any other; when
    ``state.deadline`` is None it clears the saga's deadline; otherwise the one
    already scheduled stays as it is (an ignored input must not postpone it).
    """

    state: SagaState
    commands: tuple[Command, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    armed: Timer | None = None

    @property
    def deadline(self) -> Timer | None:
        """The saga's live deadline after this decision."""
        return self.state.deadline

    @property
    def ignored(self) -> bool:
        """True when the input changed nothing (duplicate, stale or irrelevant)."""
        return any(entry.kind == HistoryKind.ignored for entry in self.history)
