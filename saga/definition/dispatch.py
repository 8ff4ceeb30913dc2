"""What every saga definition does with an input, whatever its table.

A definition's ``react`` records the input in the history (a message of another
saga and a stale deadline are ignored there), finds the first row of its table
for the saga's status and the input whose guard holds, runs the row's action and
checks that the saga ended where the row said it may.  :func:`dispatch` is that
sequence; :class:`Accumulator` is the part of a decision being built that does
not depend on the saga (its history, its commands, its deadline, the transition
recorded last); each definition keeps its own literal table of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from saga.definition.decisions import HistoryEntry, HistoryKind
from saga.definition.errors import UndeclaredTransition
from saga.definition.inputs import DeadlineFired, Input, OperatorRetry, input_name
from saga.definition.state import Timer
from shared.messages import Command, Message


class SagaStatusLike(Hashable, Protocol):
    @property
    def value(self) -> str: ...


class StateLike(Protocol):
    """What the machinery reads of any saga's state."""

    @property
    def saga_id(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def deadline(self) -> Timer | None: ...
    @property
    def backing_off(self) -> bool: ...


class Row(Protocol):
    """One row of a transition table: in ``source``, on ``input``, if ``guard``
    holds, run ``action``, ending in one of ``targets``."""

    @property
    def source(self) -> Any: ...
    @property
    def input(self) -> str: ...
    @property
    def guard(self) -> Callable[..., bool]: ...
    @property
    def action(self) -> Callable[..., None]: ...
    @property
    def targets(self) -> tuple[Any, ...]: ...


class Decided(Protocol):
    """What :func:`dispatch` reads of a decision."""

    @property
    def state(self) -> Any: ...
    @property
    def ignored(self) -> bool: ...


S = TypeVar("S", bound=StateLike)
C = TypeVar("C")
D = TypeVar("D", bound=Decided)
R = TypeVar("R", bound=Row)
E = TypeVar("E")


class Accumulator(Generic[C, S]):
    """One decision being built: the table's actions change the state and send through it."""

    def __init__(self, config: C, state: S) -> None:
        self.config = config
        self.source = state.status
        self.state = state
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.armed: Timer | None = None

    def record(self, kind: HistoryKind, **detail: Any) -> None:
        self.history.append(HistoryEntry(kind.value, detail))

    def update(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[type-var]

    def ignore(self, why: str) -> None:
        self.record(HistoryKind.ignored, why=why)

    def arm(self, timer: Timer | None) -> None:
        self.armed = timer
        self.update(deadline=timer)

    def recorded(self) -> tuple[HistoryEntry, ...]:
        """The history of the decision: what was recorded, then the transition if any."""
        history = list(self.history)
        if self.state.status != self.source:
            history.append(
                HistoryEntry(
                    HistoryKind.transition.value,
                    {"from": self.source.value, "to": self.state.status.value},
                )
            )
        return tuple(history)

    def born(self) -> None:
        """Record the saga's birth: a transition from nothing to its first status."""
        self.history.append(
            HistoryEntry(
                HistoryKind.transition.value, {"from": None, "to": self.state.status.value}
            )
        )


D_co = TypeVar("D_co", bound=Decided, covariant=True)


class Reacting(Protocol[D_co]):
    """What :func:`dispatch` needs of a decision being built."""

    @property
    def state(self) -> Any: ...
    def record(self, kind: HistoryKind, **detail: Any) -> None: ...
    def ignore(self, why: str) -> None: ...
    def decision(self) -> D_co: ...


class Table(Generic[R]):
    """A definition's rows by (status, input name), in the order they are tried."""

    def __init__(self, rules: Iterable[R]) -> None:
        self._rows: dict[tuple[Hashable, str], list[R]] = {}
        for rule in rules:
            self._rows.setdefault((rule.source, rule.input), []).append(rule)

    def first(self, state: StateLike, input: Input, config: object) -> R | None:
        """The first row for the state's status and the input whose guard holds."""
        rows = self._rows.get((state.status, input_name(input)), ())
        return next((rule for rule in rows if rule.guard(state, input, config)), None)


Status = TypeVar("Status")
State = TypeVar("State")
Config = TypeVar("Config")
Building = TypeVar("Building")


@dataclass(frozen=True)
class TableRow(Generic[Status, State, Config, Building]):
    """In ``source``, on ``input``, if ``guard`` holds, run ``action``, ending in one of
    ``targets``; a definition's rows subclass it with its own types."""

    source: Status
    input: str
    guard: Callable[[State, Input, Config], bool] = field(compare=False, repr=False)
    action: Callable[[Building, Input], None] = field(compare=False, repr=False)
    targets: tuple[Status, ...]


@dataclass(frozen=True)
class Edge(Generic[Status]):
    """One edge of a state diagram; ``source`` None is the saga's start."""

    source: Status | None
    input: str
    target: Status


def edges(start: E, rules: Iterable[Row], edge: Callable[[Any, str, Any], E]) -> tuple[E, ...]:
    """The edges a table can take, the start edge first."""
    return (
        start,
        *(edge(rule.source, rule.input, target) for rule in rules for target in rule.targets),
    )


def take_input(r: Reacting[Any], input: Input, *, owner: str | None, noun: str) -> bool:
    """Record ``input`` in the history; False when it is ignored there: a message of
    another saga (``owner``: the id the message names, ``noun``: what that id is)
    or a deadline that is not the saga's live one."""
    state: StateLike = r.state
    if isinstance(input, Message):
        r.record(HistoryKind.message_in, type=input_name(input), body=input.dump())
        if owner != state.saga_id:
            r.ignore(f"belongs to {noun} {owner!r}, not {state.saga_id!r}")
            return False
    elif isinstance(input, DeadlineFired):
        if state.deadline is None or not state.deadline.matches(input):
            r.ignore(f"stale deadline {input.command} attempt {input.attempt}")
            return False
        r.record(
            HistoryKind.timeout,
            command=input.command,
            attempt=input.attempt,
            backoff=state.backing_off,
        )
    else:
        action = "retry" if isinstance(input, OperatorRetry) else "abort"
        r.record(HistoryKind.operator, action=action, actor=input.actor, reason=input.reason)
    return True


def dispatch(
    table: Table[R],
    r: Reacting[D],
    input: Input,
    config: object,
    *,
    owner: str | None,
    noun: str,
    unexpected: Callable[[Any, Input], str],
) -> D:
    """The decision of the first row of ``table`` that takes ``input``; with none, the
    input is ignored with ``unexpected(state, input)`` as the reason.

    Raises :class:`UndeclaredTransition` when the row's action ends the saga in a
    status the row does not declare (an ignored input may leave it where it was).
    """
    state = r.state
    if not take_input(r, input, owner=owner, noun=noun):
        return r.decision()
    rule = table.first(state, input, config)
    if rule is None:
        r.ignore(unexpected(state, input))
        return r.decision()
    rule.action(r, input)
    decision = r.decision()
    ended = decision.state.status
    if ended not in rule.targets and not (decision.ignored and ended is state.status):
        raise UndeclaredTransition(
            f"{state.status} --{input_name(input)}--> {ended} is not declared"
        )
    return decision
