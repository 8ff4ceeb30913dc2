"""One decision being built: actions change the state and send commands through it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from saga.definition.config import SagaConfig
from saga.definition.decisions import Decision, HistoryKind
from saga.definition.dispatch import Accumulator
from saga.definition.progress import build_command
from saga.definition.state import SagaState, StepRecord, Timer
from saga.definition.statuses import SagaStatus, StepName, StepState


class Reaction(Accumulator[SagaConfig, SagaState]):
    """Accumulates one decision: the table's actions update the state and send through it."""

    def step(self, name: StepName) -> StepRecord:
        return self.state.steps.get(name)

    def set_step(self, name: StepName, **changes: Any) -> None:
        record = replace(self.step(name), **changes)
        self.update(steps=self.state.steps.with_record(name, record))

    def move(self, status: SagaStatus) -> None:
        self.update(status=status)

    def clear_deadline(self) -> None:
        self.arm(None)

    def send(self) -> None:
        """Send the command the saga's status awaits and arm its timeout."""
        step = self.state.step
        if step is None:
            raise ValueError(f"nothing to send while {self.state.status}")
        record = self.step(step.name)
        known: StepState
        if not self.state.undoing:
            known = StepState.pending if record.state is StepState.not_started else record.state
            record = replace(record, state=known, sent=record.sent + 1)
            command, attempt = step.command, record.sent
        else:
            # Sent after the step was known done, this compensation surely comes after
            # the step's effect (which acknowledgement answers it: see StepRecord).
            known = StepState.being_undone if record.state is StepState.done else record.state
            record = replace(record, state=known, compensations_sent=record.compensations_sent + 1)
            command, attempt = step.compensation, record.compensations_sent
        self.update(steps=self.state.steps.with_record(step.name, record), backing_off=False)
        message = build_command(self.state, command)
        self.commands.append(message)
        self.record(
            HistoryKind.command_out, type=command.type_name, attempt=attempt, body=message.dump()
        )
        self.arm(Timer(command.type_name, attempt, self.config.step_timeout_seconds))

    def decision(self) -> Decision:
        return Decision(
            state=self.state,
            commands=tuple(self.commands),
            history=self.recorded(),
            armed=self.armed,
        )
