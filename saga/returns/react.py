"""The return saga definition: a configuration plus the pure ``react``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from saga.answers import answers_none_of, command_id
from saga.definition import (
    HistoryKind,
    Input,
    SagaNotStarted,
    Timer,
    input_name,
)
from saga.definition.dispatch import Table, dispatch
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
        self._table = Table(self.rules)

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
        return answers_none_of(
            ANSWERS,
            reply,
            causation_id,
            None if state is None else state.saga_id,
            lambda command: 0 if state is None else state.sent.get(command, 0),
            saga="the return saga",
        )

    # --- the pure part ----------------------------------------------------------

    def react(self, state: ReturnState | None, input: Input) -> ReturnDecision:
        if state is None:
            if isinstance(input, ReturnRequested):
                return self._start(input)
            raise SagaNotStarted(f"{input_name(input)} arrived before return.requested")
        return dispatch(
            self._table,
            ReturnReaction(self.config, state),
            input,
            self.config,
            owner=self.saga_id_of(input) if isinstance(input, Message) else None,
            noun="return",
            unexpected=_unexpected,
        )

    def _start(self, event: ReturnRequested) -> ReturnDecision:
        state = ReturnState.start(event)
        r = ReturnReaction(self.config, state)
        r.record(HistoryKind.message_in, type=event.type_name, body=event.dump())
        r.arm(Timer(RECEIPT, 1, self.config.receipt_timeout_seconds))
        r.born()
        return r.decision()


def _unexpected(state: ReturnState, input: Input) -> str:
    return f"{input_name(input)} is not expected while {state.status.value}"
