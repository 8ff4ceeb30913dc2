"""Where a saga is (:class:`SagaStatus`) and what it knows about each step (:class:`StepState`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class SagaStatus(StrEnum):
    """Where a saga is: one status per forward step, one per compensation, three at rest."""

    reserving_inventory = "reserving_inventory"
    charging_payment = "charging_payment"
    confirming_order = "confirming_order"
    refunding_payment = "refunding_payment"
    releasing_inventory = "releasing_inventory"
    cancelling_order = "cancelling_order"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


TERMINAL: frozenset[SagaStatus] = frozenset(
    {SagaStatus.completed, SagaStatus.cancelled, SagaStatus.failed}
)
"""Statuses in which the saga waits for nothing.

They still accept a few inputs: a ``completed`` saga compensates on
``order.cancel_requested``, a ``failed`` one resumes on an operator retry, and a
late success reply reopens compensation for its step.
"""

UNDOING: tuple[SagaStatus, ...] = (
    SagaStatus.refunding_payment,
    SagaStatus.releasing_inventory,
    SagaStatus.cancelling_order,
)
"""One status per compensation, so ops see which undo is running."""

COMPENSATING = "compensating"
"""Not a status: the filter (API, CLI, dashboard) matching every :data:`UNDOING` status.

Definition version 3 and earlier stored it as the one status of every undo; the
state codec and replay read it as such (see ``SagaState.from_json``, ``replay``).
"""


StateFilter = Literal[
    "reserving_inventory",
    "charging_payment",
    "confirming_order",
    "compensating",
    "refunding_payment",
    "releasing_inventory",
    "cancelling_order",
    "completed",
    "cancelled",
    "failed",
]
"""Every name a state filter takes: a status, or :data:`COMPENSATING` for every undo."""
if set(get_args(StateFilter)) != {status.value for status in SagaStatus} | {COMPENSATING}:
    raise AssertionError("StateFilter must name every status, and compensating")


def statuses_matching(name: str) -> tuple[str, ...]:
    """The stored statuses a state filter ``name`` selects (``compensating``: every undo)."""
    if name == COMPENSATING:
        return (*(status.value for status in UNDOING), COMPENSATING)
    return (name,)


class StepName(StrEnum):
    """The saga's three steps, in forward order."""

    inventory = "inventory"
    payment = "payment"
    order = "order"


class StepState(StrEnum):
    """What the saga knows about one step (inventory, payment or order)."""

    not_started = "not_started"
    """Its command was never sent."""
    pending = "pending"
    """Its command was sent and the step is still running."""
    done = "done"
    """A success reply arrived: stock reserved, money captured, order confirmed."""
    refused = "refused"
    """The participant refused (stock insufficient, charge declined)."""
    unknown = "unknown"
    """The saga gave up on the step without a reply: it may or may not have happened."""
    being_undone = "compensating"
    """Known done, and its compensation was sent after that was known.

    Stored as ``compensating`` (saga states keep it, and the saga API shows it);
    in the code the word names only the state filter (:data:`COMPENSATING`)."""
    compensated = "compensated"
    """Its compensation was acknowledged after the step was known done (or never ran)."""


MAY_HAVE_HAPPENED = frozenset(
    {StepState.pending, StepState.unknown, StepState.done, StepState.being_undone}
)
"""A step in one of these states needs its compensation until one is known to have undone it."""
KNOWN_DONE = frozenset({StepState.done, StepState.being_undone, StepState.compensated})
