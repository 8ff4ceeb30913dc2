"""The order saga definition: a configuration plus the pure ``react``."""

from __future__ import annotations

from typing import ClassVar

from saga.definition.actions import start
from saga.definition.config import SagaConfig
from saga.definition.decisions import Decision, HistoryKind
from saga.definition.dispatch import Table, dispatch
from saga.definition.errors import SagaNotStarted
from saga.definition.inputs import Input, input_name
from saga.definition.reaction import Reaction
from saga.definition.state import OrderData, SagaState
from saga.definition.statuses import KNOWN_DONE, TERMINAL, UNDOING, SagaStatus
from saga.definition.steps import INVENTORY, STEPS
from saga.definition.table import RULES, Rule, Transition, transitions_of
from shared.messages import OrderCancelRequested, OrderCreated, OrderShipped


class OrderSaga:
    """The order saga definition: a configuration plus the pure :meth:`react`."""

    version: ClassVar[int] = 6
    """Bumped whenever the behaviour changes, so stored sagas can tell which one ran them.

    4: one status per compensation (``refunding_payment``, ``releasing_inventory``,
    ``cancelling_order``) instead of ``compensating``; the undo plan derived from
    the steps (a capture learned while releasing is refunded before the cancel).
    5: a command's id is derived from ``(saga, command, attempt)`` and the runtime
    takes a reply only when it answers one (``saga/answers.py``); a saga started by
    version 4 or earlier sent commands under random ids, and its replies are taken
    unchecked.
    6: ``order.shipped`` is an input: it completes a saga still confirming, makes a
    later customer cancel of a completed saga a return (ignored, saying so), and is
    noted by an undo begun before it; a state stored by version 5 has no shipment.
    """
    rules: ClassVar[tuple[Rule, ...]] = RULES
    kind: ClassVar[str] = "order"
    statuses: ClassVar[tuple[SagaStatus, ...]] = tuple(SagaStatus)
    terminal: ClassVar[frozenset[SagaStatus]] = TERMINAL
    undoing: ClassVar[tuple[SagaStatus, ...]] = UNDOING
    """Its statuses, those at rest and the undoing ones, as the diagram draws them."""

    def __init__(self, config: SagaConfig | None = None) -> None:
        self.config = config if config is not None else SagaConfig()
        self._table = Table(self.rules)

    @property
    def transitions(self) -> tuple[Transition, ...]:
        return transitions_of(self.rules)

    def react(self, state: SagaState | None, input: Input) -> Decision:
        """The saga's answer to one input.

        ``state`` None means the saga does not exist yet: only ``order.created``
        starts it, anything else raises :class:`SagaNotStarted`.
        """
        if state is None:
            if isinstance(input, OrderCreated):
                return self._start(input)
            raise SagaNotStarted(f"{input_name(input)} arrived before order.created")

        return dispatch(
            self._table,
            Reaction(self.config, state),
            input,
            self.config,
            owner=getattr(input, "order_id", None),
            noun="order",
            unexpected=why_not_expected,
        )

    def _start(self, event: OrderCreated) -> Decision:
        state = SagaState(
            saga_id=event.order_id,
            status=SagaStatus.reserving_inventory,
            order=OrderData.from_event(event),
        )
        r = Reaction(self.config, state)
        r.record(HistoryKind.message_in, type=event.type_name, body=event.dump())
        start(r, INVENTORY)
        # The saga did not exist before; record its birth as a transition from nothing.
        r.born()
        return r.decision()


def why_not_expected(state: SagaState, input: Input) -> str:
    """What the history says about an input no row of the table takes."""
    name = input_name(input)
    if isinstance(input, OrderCreated):
        return "duplicate: the saga already started"
    for step in STEPS:
        record = state.steps.get(step.name)
        if isinstance(input, step.success) and record.state in KNOWN_DONE:
            return f"duplicate: {name} already received"
        if isinstance(input, step.compensated):
            return f"not waiting for {step.compensation.type_name}"
        if step.refusal is not None and isinstance(input, step.refusal):
            return f"stale: {step.name.value} step is {record.state.value}"
    if name == "payment.refund_failed":
        return "not waiting for payment.refund"
    if isinstance(input, OrderCancelRequested) and state.shipment is not None:
        return (
            f"the order was shipped ({state.shipment}): a shipped order is returned, not cancelled"
        )
    if isinstance(input, OrderShipped) and state.status is SagaStatus.cancelled:
        return (
            f"shipped ({input.carrier} {input.tracking_number}) before the saga's cancel "
            "reached the order: the order is cancelled, and its reason says the parcel left"
        )
    if isinstance(input, OrderCancelRequested) and state.status is not SagaStatus.completed:
        undoing = " (compensating)" if state.status in UNDOING else ""
        return f"already {state.status.value}{undoing}"
    return f"{name} is not expected while {state.status.value}"
