"""The order saga definition: a configuration plus the pure ``react``."""

from __future__ import annotations

from typing import ClassVar

from saga.definition.config import SagaConfig
from saga.definition.decisions import Decision, HistoryEntry, HistoryKind
from saga.definition.errors import SagaNotStarted, UndeclaredTransition
from saga.definition.handlers import start_step
from saga.definition.inputs import DeadlineFired, Input, OperatorRetry, input_name
from saga.definition.reaction import Reaction
from saga.definition.state import OrderData, SagaState
from saga.definition.statuses import KNOWN_DONE, SagaStatus
from saga.definition.steps import STEPS
from saga.definition.table import RULES, Rule, Transition, transitions_of
from shared.messages import Message, OrderCancelRequested, OrderCreated


class OrderSaga:
    """The order saga definition: a configuration plus the pure :meth:`react`."""

    version: ClassVar[int] = 3
    """Bumped whenever the behaviour changes, so stored sagas can tell which one ran them."""
    rules: ClassVar[tuple[Rule, ...]] = RULES

    def __init__(self, config: SagaConfig | None = None) -> None:
        self.config = config if config is not None else SagaConfig()
        self._dispatch = {(rule.source, rule.input): rule for rule in self.rules}

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

        r = Reaction(self.config, state)
        name = input_name(input)
        if isinstance(input, Message):
            r.record(HistoryKind.message_in, type=name, body=input.dump())
            order_id = getattr(input, "order_id", None)
            if order_id != state.saga_id:
                r.ignore(f"belongs to order {order_id!r}, not {state.saga_id!r}")
                return r.decision()
        elif isinstance(input, DeadlineFired):
            if state.deadline is None or not state.deadline.matches(input):
                r.ignore(f"stale deadline {input.step} attempt {input.attempt}")
                return r.decision()
            r.record(
                HistoryKind.timeout,
                step=input.step,
                attempt=input.attempt,
                backoff=state.backing_off,
            )
        else:
            action = "retry" if isinstance(input, OperatorRetry) else "abort"
            r.record(HistoryKind.operator, action=action, actor=input.actor, reason=input.reason)

        rule = self._dispatch.get((state.status, name))
        if rule is None:
            r.ignore(why_not_expected(state, input))
            return r.decision()
        rule.handler(r, input)
        decision = r.decision()
        ended = decision.state.status
        if ended not in rule.targets and not (decision.ignored and ended is state.status):
            raise UndeclaredTransition(f"{state.status} --{name}--> {ended} is not declared")
        return decision

    def _start(self, event: OrderCreated) -> Decision:
        state = SagaState(
            saga_id=event.order_id,
            status=SagaStatus.reserving_inventory,
            order=OrderData.from_event(event),
        )
        r = Reaction(self.config, state)
        r.record(HistoryKind.message_in, type=event.type_name, body=event.dump())
        start_step(r, STEPS[0])
        # The saga did not exist before; record its birth as a transition from nothing.
        r.history.append(
            HistoryEntry(HistoryKind.transition.value, {"from": None, "to": state.status.value})
        )
        return r.decision()


def why_not_expected(state: SagaState, input: Input) -> str:
    name = input_name(input)
    if isinstance(input, OrderCreated):
        return "duplicate: the saga already started"
    for spec in STEPS:
        record = state.steps.get(spec.name)
        if isinstance(input, spec.success) and record.state in KNOWN_DONE:
            return f"duplicate: {name} already received"
        if isinstance(input, spec.compensated):
            return f"not waiting for {spec.compensation.type_name}"
        if spec.refusal is not None and isinstance(input, spec.refusal):
            return f"stale: {spec.name.value} step is {record.state.value}"
    if isinstance(input, OrderCancelRequested) and state.status is not SagaStatus.completed:
        return f"already {state.status.value}"
    return f"{name} is not expected while {state.status.value}"
