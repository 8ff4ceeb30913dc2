"""The return saga definition: a configuration plus the pure ``react``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from saga.answers import command_id
from saga.definition import (
    DeadlineFired,
    HistoryEntry,
    HistoryKind,
    Input,
    OperatorRetry,
    SagaNotStarted,
    Timer,
    UndeclaredTransition,
    input_name,
)
from saga.returns.config import ReturnConfig
from saga.returns.reaction import ReturnDecision, ReturnReaction
from saga.returns.state import ReturnState
from saga.returns.statuses import RECEIPT, TERMINAL, ReturnStatus
from saga.returns.table import INPUTS, RULES, TRANSITIONS, ReturnRule, ReturnTransition
from shared.messages import (
    CloseReturn,
    ExpireReturn,
    Message,
    RefundReturn,
    RestockReturn,
    ReturnRequested,
)

ANSWERS: dict[str, tuple[str, ...]] = {
    "return.expired": (ExpireReturn.type_name,),
    "inventory.restocked": (RestockReturn.type_name,),
    "payment.return_refunded": (RefundReturn.type_name,),
    "payment.return_refund_failed": (RefundReturn.type_name,),
    "return.closed": (CloseReturn.type_name,),
}
"""The commands each participant reply may answer (``return.received`` answers an
expire the receipt beat, or none: the warehouse's receipt, so it is not checked)."""


class ReturnSaga:
    """A customer's return of some or all lines of a delivered order."""

    kind: ClassVar[str] = "return"
    version: ClassVar[int] = 1
    statuses: ClassVar[tuple[ReturnStatus, ...]] = tuple(ReturnStatus)
    terminal: ClassVar[frozenset[ReturnStatus]] = TERMINAL
    undoing: ClassVar[tuple[ReturnStatus, ...]] = (ReturnStatus.expiring,)
    inputs: ClassVar[tuple[str, ...]] = INPUTS
    rules: ClassVar[tuple[ReturnRule, ...]] = RULES

    def __init__(self, config: ReturnConfig | None = None) -> None:
        self.config = config if config is not None else ReturnConfig()
        self._dispatch: dict[tuple[ReturnStatus, str], list[ReturnRule]] = {}
        for rule in self.rules:
            self._dispatch.setdefault((rule.source, rule.input), []).append(rule)

    @property
    def transitions(self) -> tuple[ReturnTransition, ...]:
        return TRANSITIONS

    # --- what the runtime asks of every definition ------------------------------

    def saga_id_of(self, message: Message) -> str | None:
        value = getattr(message, "return_id", None)
        return value if isinstance(value, str) else None

    def load(self, data: dict[str, Any]) -> ReturnState:
        return ReturnState.from_json(data)

    def user_of(self, state: ReturnState) -> str:
        return state.user_id

    def command_ids(self, state: ReturnState, commands: Sequence[Message]) -> list[str]:
        """A decision sends each command at most once: its latest attempt."""
        return [command_id(state.saga_id, c.type_name, state.sent[c.type_name]) for c in commands]

    def unanswered(
        self, state: ReturnState | None, reply: str, causation_id: str | None
    ) -> str | None:
        commands = ANSWERS.get(reply)
        if commands is None:
            return None
        if state is None:
            return f"{reply} answers no command: the return saga does not exist"
        sent = {
            command_id(state.saga_id, command, attempt)
            for command in commands
            for attempt in range(1, state.sent.get(command, 0) + 1)
        }
        if causation_id in sent:
            return None
        return f"{reply} answers {causation_id!r}, not a {' or '.join(commands)} the saga sent"

    # --- the pure part ----------------------------------------------------------

    def react(self, state: ReturnState | None, input: Input) -> ReturnDecision:
        if state is None:
            if isinstance(input, ReturnRequested):
                return self._start(input)
            raise SagaNotStarted(f"{input_name(input)} arrived before return.requested")
        r = ReturnReaction(self.config, state)
        name = input_name(input)
        if isinstance(input, Message):
            r.record(HistoryKind.message_in, type=name, body=input.dump())
            if self.saga_id_of(input) != state.saga_id:
                r.ignore(f"belongs to return {self.saga_id_of(input)!r}, not {state.saga_id!r}")
                return r.decision()
        elif isinstance(input, DeadlineFired):
            if state.deadline is None or not state.deadline.matches(input):
                r.ignore(f"stale deadline {input.command} attempt {input.attempt}")
                return r.decision()
            r.record(
                HistoryKind.timeout,
                command=input.command,
                attempt=input.attempt,
                backoff=state.backing_off,
            )
        else:
            action = "retry" if isinstance(input, OperatorRetry) else "abort"
            r.record(HistoryKind.operator, action=action, actor=input.actor, reason=input.reason)
        rule = next(
            (
                rule
                for rule in self._dispatch.get((state.status, name), ())
                if rule.guard(state, input, self.config)
            ),
            None,
        )
        if rule is None:
            r.ignore(f"{name} is not expected while {state.status.value}")
            return r.decision()
        rule.action(r, input)
        ended = r.state.status
        if ended is not state.status:
            r.record(HistoryKind.transition, **{"from": state.status.value, "to": ended.value})
        decision = r.decision()
        if ended not in rule.targets and not (decision.ignored and ended is state.status):
            raise UndeclaredTransition(f"{state.status} --{name}--> {ended} is not declared")
        return decision

    def _start(self, event: ReturnRequested) -> ReturnDecision:
        state = ReturnState.start(event)
        r = ReturnReaction(self.config, state)
        r.record(HistoryKind.message_in, type=event.type_name, body=event.dump())
        r.arm(Timer(RECEIPT, 1, self.config.receipt_timeout_seconds))
        r.history.append(
            HistoryEntry(HistoryKind.transition.value, {"from": None, "to": state.status.value})
        )
        return r.decision()
