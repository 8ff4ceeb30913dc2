"""The saga definitions one runtime serves, by kind, and how each is reached.

The runtime (``saga/runtime.py``) takes an input, finds the kind whose inputs
name its type, asks that kind which saga it belongs to and hands it to that
kind's definition; a stored saga remembers its kind (the ``kind`` column), so a
deadline or an operator's action reaches the definition that started it.

A definition is a package like ``saga/definition/`` or ``saga/returns/``: its
statuses, state (a JSON codec), table and ``react``.  Adding one is that package
and one line in :data:`REGISTERED`; its events reach the saga through
``shared.messaging.topology`` like every other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from saga import answers
from saga.definition import OrderSaga, SagaConfig, SagaState
from saga.definition.inputs import DEADLINE_FIRED, OPERATOR_ABORT, OPERATOR_RETRY
from saga.returns import ReturnConfig, ReturnSaga, ReturnState
from shared.messages import Message
from shared.messaging.transport import PoisonMessage
from shared.settings import Settings

PSEUDO_INPUTS = frozenset({DEADLINE_FIRED, OPERATOR_RETRY, OPERATOR_ABORT})
ORDER = "order"


@dataclass(frozen=True)
class SagaKind:
    """One definition and what the runtime asks of it besides ``react``."""

    name: str
    definition: Any
    """Its ``react(state, input)`` returns a decision: ``state`` (with ``saga_id``,
    ``status``, ``deadline``, ``to_json()``), ``commands``, ``history``, ``armed``."""
    inputs: frozenset[str]
    """The message types it takes (the pseudo-inputs reach it through its rows)."""
    saga_id_of: Callable[[Message], str | None]
    load: Callable[[dict[str, Any]], Any]
    user_of: Callable[[Any], str]
    command_ids: Callable[[Any, Sequence[Message]], list[str]]
    unanswered: Callable[[Any, str, str | None], str | None]

    @property
    def version(self) -> int:
        return int(self.definition.version)

    @classmethod
    def of(cls, definition: Any) -> SagaKind:
        """A definition that answers the runtime's questions itself (``ReturnSaga``)."""
        return cls(
            name=definition.kind,
            definition=definition,
            inputs=frozenset(definition.inputs) - PSEUDO_INPUTS,
            saga_id_of=definition.saga_id_of,
            load=definition.load,
            user_of=definition.user_of,
            command_ids=definition.command_ids,
            unanswered=definition.unanswered,
        )


def order_kind(definition: OrderSaga) -> SagaKind:
    """The order saga, whose id is the order's (its questions answered by ``saga/answers.py``)."""
    inputs = {"order.created"} | {rule.input for rule in definition.rules}

    def saga_id_of(message: Message) -> str | None:
        value = getattr(message, "order_id", None)
        return value if isinstance(value, str) else None

    def user_of(state: SagaState) -> str:
        return state.order.user_id

    return SagaKind(
        name=ORDER,
        definition=definition,
        inputs=frozenset(inputs) - PSEUDO_INPUTS,
        saga_id_of=saga_id_of,
        load=SagaState.from_json,
        user_of=user_of,
        command_ids=answers.command_ids,
        unanswered=answers.unanswered,
    )


class Kinds:
    """The kinds a runtime serves, the order saga first."""

    def __init__(self, kinds: Iterable[SagaKind]) -> None:
        self._kinds = {kind.name: kind for kind in kinds}
        self._by_input: dict[str, SagaKind] = {}
        for kind in self._kinds.values():
            for name in kind.inputs:
                if name in self._by_input:
                    raise ValueError(f"{name} is an input of {self._by_input[name].name} already")
                self._by_input[name] = kind

    def __iter__(self) -> Iterator[SagaKind]:
        return iter(self._kinds.values())

    def __getitem__(self, name: str) -> SagaKind:
        return self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def for_input(self, type_name: str) -> SagaKind:
        """The kind that takes messages of ``type_name`` (the order saga if none names it:
        it records the input as not expected)."""
        return self._by_input.get(type_name, self._kinds[ORDER])

    def route(self, type_name: str, message: Message) -> tuple[SagaKind, str]:
        """The kind a message of ``type_name`` is for, and the id of its saga; a
        message that names none is a poison message."""
        kind = self.for_input(type_name)
        saga_id = kind.saga_id_of(message)
        if saga_id is None:
            raise PoisonMessage(f"{type_name} names no {kind.name} saga")
        return kind, saga_id


def return_config(settings: Settings) -> ReturnConfig:
    return ReturnConfig(
        receipt_timeout_seconds=settings.return_receipt_days * 86_400,
        step_timeout_seconds=settings.saga_step_timeout_seconds,
        step_retries=settings.saga_step_retries,
        refund_retries=settings.saga_compensation_retries,
        refund_backoff_seconds=settings.saga_compensation_backoff_seconds,
    )


def order_config(settings: Settings) -> SagaConfig:
    return SagaConfig(
        step_timeout_seconds=settings.saga_step_timeout_seconds,
        step_retries=settings.saga_step_retries,
        compensation_retries=settings.saga_compensation_retries,
        compensation_backoff_seconds=settings.saga_compensation_backoff_seconds,
    )


@dataclass(frozen=True)
class Registration:
    """A definition the saga component runs: its kind, how it is built from the
    settings, and how its stored state is read (the ops API reads rows of every kind)."""

    name: str
    build: Callable[[Settings], SagaKind]
    load: Callable[[dict[str, Any]], Any]


REGISTERED: tuple[Registration, ...] = (
    Registration(ORDER, lambda s: order_kind(OrderSaga(order_config(s))), SagaState.from_json),
    Registration(
        "return", lambda s: SagaKind.of(ReturnSaga(return_config(s))), ReturnState.from_json
    ),
)
"""Every definition, one line each (the order saga first)."""


def state_of(kind: str, data: dict[str, Any]) -> Any:
    """A stored saga's state, read by its own kind's codec (an unknown kind: the order's)."""
    load = next((r.load for r in REGISTERED if r.name == kind), SagaState.from_json)
    return load(data)


def kinds_for(settings: Settings, order: OrderSaga | None = None) -> list[SagaKind]:
    """Every definition the saga component runs, configured from ``settings``;
    ``order`` replaces the order saga the settings describe (tests)."""
    built = [r.build(settings) for r in REGISTERED]
    if order is not None:
        built[0] = order_kind(order)
    return built
