"""Re-running a stored saga's inputs through a definition, and what differed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saga.definition.decisions import Decision
from saga.definition.errors import SagaError
from saga.definition.inputs import JSON, Input, input_to_json
from saga.definition.react import OrderSaga
from saga.definition.state import SagaState
from saga.definition.statuses import COMPENSATING, UNDOING
from saga.definition.steps import STEP_BY_COMMAND

_UNDOING = frozenset(status.value for status in UNDOING)


@dataclass(frozen=True)
class RecordedDecision:
    """What the runtime stored about one decision: the status it led to and the commands sent."""

    status: str
    commands: tuple[str, ...]

    @classmethod
    def of(cls, decision: Decision) -> RecordedDecision:
        return cls(decision.state.status.value, tuple(c.type_name for c in decision.commands))

    def to_json(self) -> JSON:
        return {"status": self.status, "commands": list(self.commands)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedDecision:
        return cls(str(data["status"]), tuple(str(c) for c in data["commands"]))

    def agrees_with(self, actual: RecordedDecision) -> bool:
        """Whether ``actual`` (this definition's decision) is what this recording says.

        A decision recorded by definition version 3 says ``compensating`` for every
        undo.  It agrees with the same commands and the compensation state they
        name (sending ``inventory.release`` is ``releasing_inventory``), or with any
        compensation state when it sent nothing (a refusal backing off, a late reply).
        """
        if self.status != COMPENSATING:
            return self == actual
        if self.commands != actual.commands or actual.status not in _UNDOING:
            return False
        sent = STEP_BY_COMMAND.get(self.commands[-1]) if self.commands else None
        return sent is None or actual.status == sent.undoing.value


@dataclass(frozen=True)
class Divergence:
    """Input ``index`` led to ``actual`` where the recorded run had ``expected``.

    Either side is None when that run has no decision for the input (the recording
    is shorter than the inputs, or the definition raised on it: see ``error``).
    """

    index: int
    input: Input
    expected: RecordedDecision | None
    actual: RecordedDecision | None
    error: str | None = None

    def to_json(self) -> JSON:
        return {
            "index": self.index,
            "input": input_to_json(self.input),
            "expected": None if self.expected is None else self.expected.to_json(),
            "actual": None if self.actual is None else self.actual.to_json(),
            "error": self.error,
        }


@dataclass(frozen=True)
class ReplayReport:
    """The result of :func:`replay`; ``ok`` when nothing diverged."""

    divergences: list[Divergence]
    final_state: SagaState | None = None

    @property
    def ok(self) -> bool:
        return not self.divergences

    def to_json(self) -> JSON:
        return {"ok": self.ok, "divergences": [d.to_json() for d in self.divergences]}


def replay(
    definition: OrderSaga,
    inputs: Sequence[Input],
    recorded: Sequence[RecordedDecision],
) -> ReplayReport:
    """Re-run ``inputs`` from nothing through ``definition`` and compare with ``recorded``.

    Every input whose decision differs (status reached or commands sent) is
    reported; after the first divergence the replay continues from the state the
    definition itself produced, so later entries show its own consequences.
    """
    divergences: list[Divergence] = []
    state: SagaState | None = None
    for index, input in enumerate(inputs):
        expected = recorded[index] if index < len(recorded) else None
        try:
            decision = definition.react(state, input)
        except SagaError as exc:
            divergences.append(Divergence(index, input, expected, None, error=repr(exc)))
            continue
        state = decision.state
        actual = RecordedDecision.of(decision)
        if expected is None or not expected.agrees_with(actual):
            divergences.append(Divergence(index, input, expected, actual))
    return ReplayReport(divergences, state)
