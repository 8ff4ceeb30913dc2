"""Which replies answer a command the saga sent.

A participant's reply carries, as its causation id, the message id of the command
it answers.  The saga names its commands by what they are, ``(saga, command,
attempt)`` (:func:`command_id`), so from a saga's state alone it knows the id of
every command it sent: ``attempt`` runs from 1 to how often it sent that command,
and the send counters never go back (``StepRecord``).  A reply whose causation id
is none of the ids of the commands it may answer (:data:`ANSWERS`) answers nothing
the saga asked for: the runtime refuses it before the definition sees it, and
records why.

The check lives in the runtime, not in the pure definition: the definition sees
messages, not envelopes, and a refused reply is not one of its inputs (replay
never meets it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence

from saga.definition import SagaState
from saga.definition.steps import STEP_BY_COMMAND
from shared.messages import Message

CHECKED_SINCE = 5
"""The first definition version whose sagas' commands have derived ids: a saga
started by an earlier one has its replies taken unchecked."""
COMMAND_IDS = uuid.UUID("5b1f3c2e-7d4a-4e0b-9a57-0f3d2c9e8a11")
"""The namespace of the saga's command ids (UUID version 5)."""

ANSWERS: dict[str, tuple[str, ...]] = {
    "inventory.reserved": ("inventory.reserve",),
    "inventory.insufficient": ("inventory.reserve",),
    "inventory.released": ("inventory.release",),
    "payment.completed": ("payment.charge",),
    "payment.failed": ("payment.charge",),
    "payment.refunded": ("payment.refund",),
    "payment.refund_failed": ("payment.refund",),
    "order.confirmed": ("order.confirm", "order.cancel"),
    "order.cancelled": ("order.cancel", "order.confirm"),
}
"""The commands each participant reply may answer.  The orders service answers
either command with where the order stands (a confirm of a cancelled order is
answered ``order.cancelled``); stock and money are answered in kind.  The saga's
other inputs (``order.created``, ``order.cancel_requested``, ``order.shipped``) answer
no command."""


def command_id(saga_id: str, command: str, attempt: int) -> str:
    """The message id of the ``attempt``-th ``command`` the saga ``saga_id`` sends."""
    return str(uuid.uuid5(COMMAND_IDS, f"{saga_id}/{command}/{attempt}"))


def sends(state: SagaState, command: str) -> int:
    """How often the saga has sent ``command`` (a step's command or compensation)."""
    step = STEP_BY_COMMAND[command]
    record = state.steps.get(step.name)
    return record.sent if command == step.command.type_name else record.compensations_sent


def command_ids(state: SagaState, commands: Sequence[Message]) -> list[str]:
    """The ids of ``commands``, the ones a decision leading to ``state`` sends: each is
    its command's latest send (the last of two sends of one command the one before)."""
    remaining: dict[str, int] = {}
    ids: list[str] = []
    for command in reversed(commands):
        name = command.type_name
        attempt = remaining.get(name, sends(state, name))
        ids.append(command_id(state.saga_id, name, attempt))
        remaining[name] = attempt - 1
    return ids[::-1]


def unanswered(state: SagaState | None, reply: str, causation_id: str | None) -> str | None:
    """Why the reply of type ``reply`` answers no command the saga sent, or None when
    it answers one (or is not a reply at all)."""
    return answers_none_of(
        ANSWERS,
        reply,
        causation_id,
        None if state is None else state.saga_id,
        lambda command: 0 if state is None else sends(state, command),
    )


def answers_none_of(
    answers: Mapping[str, Sequence[str]],
    reply: str,
    causation_id: str | None,
    saga_id: str | None,
    sent: Callable[[str], int],
    *,
    saga: str = "the saga",
) -> str | None:
    """Why ``reply`` answers none of the commands ``answers`` lists for it, as the
    saga ``saga_id`` sent them (``sent(command)`` times each; ``None``: ``saga`` does
    not exist), or None when its causation id is one of theirs or ``reply`` is no
    reply at all."""
    commands = answers.get(reply)
    if commands is None:
        return None
    if saga_id is None:
        return f"{reply} answers no command: {saga} does not exist"
    ids = {
        command_id(saga_id, command, attempt)
        for command in commands
        for attempt in range(1, sent(command) + 1)
    }
    if causation_id in ids:
        return None
    if causation_id is None:
        return f"{reply} names no command it answers (no causation id)"
    return f"{reply} answers {causation_id!r}, not a {' or '.join(commands)} the saga sent"
