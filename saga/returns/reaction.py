"""One return decision being built: the table's actions change the state through it."""

from __future__ import annotations

from dataclasses import dataclass

from saga.definition import HistoryEntry, HistoryKind, Timer
from saga.definition.dispatch import Accumulator
from saga.returns.config import ReturnConfig
from saga.returns.state import AWAITED, ReturnState
from saga.returns.statuses import ReturnStatus
from shared.messages import (
    CloseReturn,
    Command,
    ExpireReturn,
    RefundReturn,
    ReservedItem,
    RestockReturn,
)

AWAITS = AWAITED
if set(AWAITS.values()) != {
    c.type_name for c in (ExpireReturn, RestockReturn, RefundReturn, CloseReturn)
}:
    raise AssertionError("every command of the return saga is awaited by one status")


@dataclass(frozen=True)
class ReturnDecision:
    """What one input did to a return saga (the runtime stores it as an order
    saga's :class:`saga.definition.Decision`)."""

    state: ReturnState
    commands: tuple[Command, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    armed: Timer | None = None

    @property
    def ignored(self) -> bool:
        return any(entry.kind == HistoryKind.ignored for entry in self.history)


def build_command(state: ReturnState, command: str) -> Command:
    """The body of ``command`` for ``state``."""
    ids = {"return_id": state.saga_id, "order_id": state.order_id}
    if command == RestockReturn.type_name:
        items = [ReservedItem(product_id=p, quantity=q) for p, q in state.received]
        return RestockReturn(**ids, items=items)
    if command == RefundReturn.type_name:
        return RefundReturn(
            **ids,
            user_id=state.user_id,
            amount=state.refund_amount,
            currency=state.currency,
            payment_method_id=state.payment_method_id,
        )
    if command == CloseReturn.type_name:
        return CloseReturn(**ids, refunded_amount=state.refunded)
    if command == ExpireReturn.type_name:
        return ExpireReturn(**ids)
    raise ValueError(f"the return saga sends no {command}")


class ReturnReaction(Accumulator[ReturnConfig, ReturnState]):
    """Accumulates one decision."""

    def move(self, status: ReturnStatus) -> None:
        """Move to ``status`` and, if it awaits a command, send it (a fresh budget)."""
        self.update(status=status, timeouts=0, backing_off=False)
        if status in AWAITS:
            self.send()
        else:
            self.arm(None)

    def send(self) -> None:
        """Send the command the status awaits and arm its timeout."""
        command = AWAITS[self.state.status]
        attempt = self.state.sent.get(command, 0) + 1
        self.update(sent={**self.state.sent, command: attempt}, backing_off=False)
        message = build_command(self.state, command)
        self.commands.append(message)
        self.record(HistoryKind.command_out, type=command, attempt=attempt, body=message.dump())
        self.arm(Timer(command, attempt, self.config.step_timeout_seconds))

    def decision(self) -> ReturnDecision:
        return ReturnDecision(self.state, tuple(self.commands), self.recorded(), self.armed)
