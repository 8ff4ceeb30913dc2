"""Everything :meth:`OrderSaga.react` accepts, and the JSON the runtime stores it as."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from pydantic import ValidationError

from saga.definition.errors import InvalidInput
from shared.messages import Message, UnknownMessageType, model_for

JSON: TypeAlias = dict[str, Any]
"""The JSON shape the definition stores its data in."""


@dataclass(frozen=True)
class DeadlineFired:
    """The saga's deadline ``(command, attempt)`` has passed.

    ``command`` is the command the deadline guards (``inventory.reserve``,
    ``payment.refund``...) and ``attempt`` which send of it.  A fire that does not
    match the saga's current deadline is stale (the saga moved on, or a newer
    deadline replaced it) and is ignored.
    """

    command: str
    attempt: int


@dataclass(frozen=True)
class OperatorRetry:
    """Ops asks to resend the current step's command now, with a fresh retry budget.

    On a ``failed`` saga it restarts the compensation that failed.
    """

    actor: str
    reason: str = ""


@dataclass(frozen=True)
class OperatorAbort:
    """Ops asks to stop a running saga and compensate now."""

    actor: str
    reason: str = ""


Input: TypeAlias = Message | DeadlineFired | OperatorRetry | OperatorAbort
"""Everything :meth:`OrderSaga.react` accepts."""

DEADLINE_FIRED = "deadline.fired"
OPERATOR_RETRY = "operator.retry"
OPERATOR_ABORT = "operator.abort"


def input_name(input: Input) -> str:
    """The name an input has in the transition table: a message's type, or a pseudo-type."""
    if isinstance(input, DeadlineFired):
        return DEADLINE_FIRED
    if isinstance(input, OperatorRetry):
        return OPERATOR_RETRY
    if isinstance(input, OperatorAbort):
        return OPERATOR_ABORT
    return input.type_name


def input_to_json(input: Input) -> JSON:
    """A JSON-able form of an input, so the runtime can store it and replay it later."""
    if isinstance(input, DeadlineFired):
        return {"kind": "deadline", "command": input.command, "attempt": input.attempt}
    if isinstance(input, OperatorRetry):
        return {"kind": "operator_retry", "actor": input.actor, "reason": input.reason}
    if isinstance(input, OperatorAbort):
        return {"kind": "operator_abort", "actor": input.actor, "reason": input.reason}
    return {"kind": "message", "type": input.type_name, "body": input.dump()}


def input_from_json(data: Mapping[str, Any]) -> Input:
    """The inverse of :func:`input_to_json`; raises :class:`InvalidInput`."""
    try:
        kind = data["kind"]
        if kind == "message":
            return model_for(data["type"]).model_validate(data["body"])
        if kind == "deadline":
            # Definition version 3 and earlier stored the command as "step".
            command = data["command"] if "command" in data else data["step"]
            return DeadlineFired(command=str(command), attempt=int(data["attempt"]))
        if kind == "operator_retry":
            return OperatorRetry(actor=str(data["actor"]), reason=str(data.get("reason", "")))
        if kind == "operator_abort":
            return OperatorAbort(actor=str(data["actor"]), reason=str(data.get("reason", "")))
    except (KeyError, TypeError, ValueError, ValidationError, UnknownMessageType) as exc:
        raise InvalidInput(f"cannot decode saga input {dict(data)!r}: {exc}") from exc
    raise InvalidInput(f"unknown saga input kind {kind!r}")
