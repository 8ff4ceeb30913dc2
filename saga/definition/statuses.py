"""Where a saga is (:class:`SagaStatus`) and what it knows about each step."""

from __future__ import annotations

from enum import StrEnum


class SagaStatus(StrEnum):
    """Where a saga is.  The last three are terminal (see :data:`TERMINAL`)."""

    reserving_inventory = "reserving_inventory"
    charging_payment = "charging_payment"
    confirming_order = "confirming_order"
    compensating = "compensating"
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
    compensating = "compensating"
    """Known done, and its compensation was sent after that was known."""
    compensated = "compensated"
    """Its compensation was acknowledged after the step was known done (or never ran)."""


POSSIBLY_DONE = frozenset({StepState.pending, StepState.unknown, StepState.done})
KNOWN_DONE = frozenset({StepState.done, StepState.compensating, StepState.compensated})


class StepName(StrEnum):
    """The saga's three steps, in forward order."""

    inventory = "inventory"
    payment = "payment"
    order = "order"
