"""The order saga as a pure state machine (DESIGN §5), in the "Decider" style.

:meth:`OrderSaga.react` maps ``(saga state, input)`` to a :class:`Decision`: the new
state, the commands to send and the history entries to store.  It does no I/O,
reads no clock and draws no random numbers; time arrives as an input
(:class:`DeadlineFired`), and so do operators (:class:`OperatorRetry`,
:class:`OperatorAbort`).  The runtime loads a saga, calls ``react``, and stores the
decision in one transaction.  Because the function is pure, a stored history can
be replayed through it (:func:`replay`) and the table it dispatches on can be
drawn (:data:`TRANSITIONS`, ``saga.diagram``).

The saga runs three steps, each with a compensation::

    inventory.reserve  -> inventory.reserved    undone by inventory.release
    payment.charge     -> payment.completed     undone by payment.refund
    order.confirm      -> order.confirmed       (the pivot; then ``completed``)

Whenever it has to give up (stock insufficient, the reservation's catalogue
prices differing from the order's, payment declined, a step not
answering after its retries, the customer cancelling, an operator aborting) it
enters ``compensating`` and undoes, in reverse order, every step that happened or
*may* have happened, and finally cancels the order (``order.cancel`` is always the
last compensation: the order exists from the start and must end cancelled).

Participants are idempotent per order, so a command can always be resent and a
compensation for something that never happened is a harmless no-op.  Replies
carry no reference to the command they answer, so the saga reasons about what it
*knows* per step (:class:`StepState`): a success reply that arrives after the
compensation for its step went out, or after the saga finished, gets that
compensation sent again so no stock or money leaks.  Which acknowledgement
proves the step undone is settled by counting (see :class:`StepRecord`), since
an answer to an older compensation may arrive after a newer one was sent.

Exceptions::

    SagaError
    ├── SagaNotStarted          an input for a saga that does not exist yet
    ├── InvalidInput            a stored input that cannot be decoded
    ├── InvalidSagaState        a stored state that cannot be decoded
    └── UndeclaredTransition    a handler moved to a status its rule does not declare
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias

from pydantic import ValidationError

from shared.messages import (
    CancelOrder,
    ChargePayment,
    Command,
    ConfirmOrder,
    Event,
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    Message,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderCreated,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
    RefundPayment,
    ReleaseInventory,
    ReservedItem,
    ReserveInventory,
    UnknownMessageType,
    model_for,
)

JSON: TypeAlias = dict[str, Any]

# --- errors -------------------------------------------------------------------


class SagaError(Exception):
    """Base of every error raised by the saga definition."""


class SagaNotStarted(SagaError):
    """An input arrived for a saga that has not started (no ``order.created`` yet).

    The runtime parks such inputs and feeds them once the saga exists, since
    messages from different exchanges may overtake each other.
    """


class InvalidInput(SagaError, ValueError):
    """A stored input that :func:`input_from_json` cannot decode."""


class InvalidSagaState(SagaError, ValueError):
    """A stored state that :meth:`SagaState.from_json` cannot decode."""


class UndeclaredTransition(SagaError, RuntimeError):
    """A handler moved the saga to a status its rule does not declare.

    This is a bug in the definition: the transition table (and so the diagram)
    would no longer describe what the saga does.
    """


# --- statuses, configuration, inputs --------------------------------------------


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


_POSSIBLY_DONE = frozenset({StepState.pending, StepState.unknown, StepState.done})
_KNOWN_DONE = frozenset({StepState.done, StepState.compensating, StepState.compensated})


@dataclass(frozen=True)
class SagaConfig:
    """Timing and retry policy (``OMS_SAGA_*`` settings are mapped onto it by the runtime)."""

    step_timeout_seconds: float = 30
    """How long a step's participant has to answer before its command is resent."""
    step_retries: int = 2
    """How often a forward command is resent on timeout before compensating."""
    compensation_retries: int = 5
    """How often a compensation is retried (after a timeout or a refusal) before ``failed``."""
    compensation_backoff_seconds: float = 1
    """The wait before retrying a refused compensation; doubles per failure."""
    compensation_backoff_max_seconds: float = 300
    """The longest wait between two compensation retries."""

    def __post_init__(self) -> None:
        if self.step_timeout_seconds <= 0:
            raise ValueError("step_timeout_seconds must be positive")
        if self.step_retries < 0 or self.compensation_retries < 0:
            raise ValueError("retries cannot be negative")
        if self.compensation_backoff_seconds < 0 or self.compensation_backoff_max_seconds < 0:
            raise ValueError("backoff cannot be negative")

    def backoff(self, failures: int) -> float:
        """The wait before the retry that follows the ``failures``-th failure (1-based)."""
        delay = self.compensation_backoff_seconds * 2 ** max(failures - 1, 0)
        return float(min(delay, self.compensation_backoff_max_seconds))


@dataclass(frozen=True)
class DeadlineFired:
    """The saga's deadline ``(step, attempt)`` has passed.

    A fire that does not match the saga's current deadline is stale (the step
    moved on, or a newer deadline replaced it) and is ignored.
    """

    step: str
    attempt: int


@dataclass(frozen=True)
class OperatorRetry:
    """Ops asks to resend the current step's command now, with a fresh retry budget.

    On a ``failed`` saga it restarts the compensation that failed.
    """

    actor: str
    reason: str = ""


@dataclass(frozen=True)
class OperatorAbort:
    """Ops asks to stop a running saga and compensate now."""

    actor: str
    reason: str = ""


Input: TypeAlias = Message | DeadlineFired | OperatorRetry | OperatorAbort
"""Everything :meth:`OrderSaga.react` accepts."""

DEADLINE_FIRED = "deadline.fired"
OPERATOR_RETRY = "operator.retry"
OPERATOR_ABORT = "operator.abort"


def input_name(input: Input) -> str:
    """The name an input has in the transition table: a message's type, or a pseudo-type."""
    if isinstance(input, DeadlineFired):
        return DEADLINE_FIRED
    if isinstance(input, OperatorRetry):
        return OPERATOR_RETRY
    if isinstance(input, OperatorAbort):
        return OPERATOR_ABORT
    return input.type_name


def input_to_json(input: Input) -> JSON:
    """A JSON-able form of an input, so the runtime can store it and replay it later."""
    if isinstance(input, DeadlineFired):
        return {"kind": "deadline", "step": input.step, "attempt": input.attempt}
    if isinstance(input, OperatorRetry):
        return {"kind": "operator_retry", "actor": input.actor, "reason": input.reason}
    if isinstance(input, OperatorAbort):
        return {"kind": "operator_abort", "actor": input.actor, "reason": input.reason}
    return {"kind": "message", "type": input.type_name, "body": input.dump()}


def input_from_json(data: Mapping[str, Any]) -> Input:
    """The inverse of :func:`input_to_json`; raises :class:`InvalidInput`."""
    try:
        kind = data["kind"]
        if kind == "message":
            return model_for(data["type"]).model_validate(data["body"])
        if kind == "deadline":
            return DeadlineFired(step=str(data["step"]), attempt=int(data["attempt"]))
        if kind == "operator_retry":
            return OperatorRetry(actor=str(data["actor"]), reason=str(data.get("reason", "")))
        if kind == "operator_abort":
            return OperatorAbort(actor=str(data["actor"]), reason=str(data.get("reason", "")))
    except (KeyError, TypeError, ValueError, ValidationError, UnknownMessageType) as exc:
        raise InvalidInput(f"cannot decode saga input {dict(data)!r}: {exc}") from exc
    raise InvalidInput(f"unknown saga input kind {kind!r}")


# --- state ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    """One order item, as the saga needs it to reserve stock."""

    product_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True)
class OrderData:
    """What ``order.created`` told the saga; enough to build every command."""

    user_id: str
    items: tuple[OrderLine, ...]
    total_amount: int
    currency: str
    payment_method_id: str

    @classmethod
    def from_event(cls, event: OrderCreated) -> OrderData:
        return cls(
            user_id=event.user_id,
            items=tuple(
                OrderLine(item.product_id, item.quantity, item.unit_price) for item in event.items
            ),
            total_amount=event.total_amount,
            currency=event.currency,
            payment_method_id=event.payment_method_id,
        )

    def to_json(self) -> JSON:
        return {
            "userId": self.user_id,
            "items": [
                {"productId": i.product_id, "quantity": i.quantity, "unitPrice": i.unit_price}
                for i in self.items
            ],
            "totalAmount": self.total_amount,
            "currency": self.currency,
            "paymentMethodId": self.payment_method_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderData:
        return cls(
            user_id=str(data["userId"]),
            items=tuple(
                OrderLine(str(i["productId"]), int(i["quantity"]), int(i["unitPrice"]))
                for i in data["items"]
            ),
            total_amount=int(data["totalAmount"]),
            currency=str(data["currency"]),
            payment_method_id=str(data["paymentMethodId"]),
        )


class StepName(StrEnum):
    """The saga's three steps, in forward order."""

    inventory = "inventory"
    payment = "payment"
    order = "order"


@dataclass(frozen=True)
class StepRecord:
    """What is known about one step, and how often its commands were sent.

    The send counters never go back, so ``(command, attempt)`` identifies one send
    for the saga's whole life (deadlines rely on that).

    The counters also tell which acknowledgement of a compensation proves the step
    undone.  Each command is handled at most once and each reply reaches the saga
    at most once (both sides keep an inbox), so the first
    ``compensations_at_success`` compensations can be answered at most that many
    times.  An acknowledgement beyond that count answers a compensation sent after
    the last success reply arrived, hence carried out after every effect the
    participant reported; an earlier one may predate an effect (reserve, release,
    then a resent reserve) and proves nothing.
    """

    state: StepState = StepState.not_started
    sent: int = 0
    """How often the step's command was sent."""
    compensations_sent: int = 0
    """How often its compensation was sent."""
    compensations_acknowledged: int = 0
    """How often an acknowledgement of its compensation arrived while one was awaited."""
    compensations_at_success: int = 0
    """``compensations_sent`` when the step's last success reply arrived."""

    @property
    def undone(self) -> bool:
        """Whether an acknowledged compensation surely came after the step's effects."""
        return self.compensations_acknowledged > self.compensations_at_success

    def to_json(self) -> JSON:
        return {
            "state": self.state.value,
            "sent": self.sent,
            "compensationsSent": self.compensations_sent,
            "compensationsAcknowledged": self.compensations_acknowledged,
            "compensationsAtSuccess": self.compensations_at_success,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(
            state=StepState(data["state"]),
            sent=int(data["sent"]),
            compensations_sent=int(data["compensationsSent"]),
            compensations_acknowledged=int(data.get("compensationsAcknowledged", 0)),
            compensations_at_success=int(data.get("compensationsAtSuccess", 0)),
        )


@dataclass(frozen=True)
class Steps:
    """One :class:`StepRecord` per step."""

    inventory: StepRecord = StepRecord()
    payment: StepRecord = StepRecord()
    order: StepRecord = StepRecord()

    def get(self, name: StepName) -> StepRecord:
        record: StepRecord = getattr(self, name.value)
        return record

    def with_record(self, name: StepName, record: StepRecord) -> Steps:
        if name is StepName.inventory:
            return replace(self, inventory=record)
        if name is StepName.payment:
            return replace(self, payment=record)
        return replace(self, order=record)

    def to_json(self) -> JSON:
        return {name.value: self.get(name).to_json() for name in StepName}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Steps:
        steps = cls()
        for name in StepName:
            steps = steps.with_record(name, StepRecord.from_json(data[name.value]))
        return steps


@dataclass(frozen=True)
class Deadline:
    """When the saga wants to be woken up: ``after_seconds`` from the decision.

    ``step`` is the command the saga waits on and ``attempt`` the send it guards.
    A backoff wait before retrying a refused compensation reuses the refused
    send's ``(step, attempt)``: the timeout it replaces can then only end the wait
    early, never count as one more failure.
    """

    step: str
    attempt: int
    after_seconds: float

    def matches(self, fired: DeadlineFired) -> bool:
        return (self.step, self.attempt) == (fired.step, fired.attempt)

    def to_json(self) -> JSON:
        return {"step": self.step, "attempt": self.attempt, "afterSeconds": self.after_seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deadline:
        return cls(str(data["step"]), int(data["attempt"]), float(data["afterSeconds"]))


@dataclass(frozen=True)
class SagaState:
    """Everything the saga remembers between two inputs."""

    saga_id: str
    """The saga's id, which is the order id."""
    status: SagaStatus
    order: OrderData
    steps: Steps = Steps()
    current: str | None = None
    """The command whose reply the saga waits for (forward or compensation), if any."""
    pending_compensations: tuple[str, ...] = ()
    """Compensations still to send after ``current``, in order."""
    failures: int = 0
    """Timeouts (and refusals, while compensating) of ``current`` since it became current."""
    backing_off: bool = False
    """True while waiting out a backoff before retrying a refused compensation."""
    deadline: Deadline | None = None
    failure_reason: str | None = None
    """Why the saga compensates, or why the last compensation attempt failed."""
    captured: int = 0
    """The amount ``payment.completed`` reported captured (0 until one arrives)."""
    refunded: int = 0
    """The most ``payment.refunded`` reported refunded so far (payments answers a total)."""

    @property
    def attempt(self) -> int:
        """How often ``current`` has been sent (0 when nothing is awaited)."""
        if self.current is None:
            return 0
        spec = _SPEC_BY_COMMAND[self.current]
        record = self.steps.get(spec.name)
        return record.sent if self.current == spec.action.type_name else record.compensations_sent

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> JSON:
        """A plain JSON-able dict; :meth:`from_json` restores an equal state."""
        return {
            "sagaId": self.saga_id,
            "status": self.status.value,
            "order": self.order.to_json(),
            "steps": self.steps.to_json(),
            "current": self.current,
            "pendingCompensations": list(self.pending_compensations),
            "failures": self.failures,
            "backingOff": self.backing_off,
            "deadline": None if self.deadline is None else self.deadline.to_json(),
            "failureReason": self.failure_reason,
            "captured": self.captured,
            "refunded": self.refunded,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SagaState:
        """Restore a state stored by :meth:`to_json`; raises :class:`InvalidSagaState`."""
        try:
            deadline = data["deadline"]
            return cls(
                saga_id=str(data["sagaId"]),
                status=SagaStatus(data["status"]),
                order=OrderData.from_json(data["order"]),
                steps=Steps.from_json(data["steps"]),
                current=data["current"],
                pending_compensations=tuple(str(c) for c in data["pendingCompensations"]),
                failures=int(data["failures"]),
                backing_off=bool(data["backingOff"]),
                deadline=None if deadline is None else Deadline.from_json(deadline),
                failure_reason=data["failureReason"],
                captured=int(data["captured"]),
                refunded=int(data["refunded"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSagaState(f"cannot decode saga state: {exc!r}") from exc


# --- decisions ---------------------------------------------------------------------


class HistoryKind(StrEnum):
    """The kinds of :class:`HistoryEntry`."""

    message_in = "message_in"
    command_out = "command_out"
    transition = "transition"
    timeout = "timeout"
    operator = "operator"
    ignored = "ignored"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a saga's history; the runtime adds the timestamp."""

    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """What one input did to a saga.

    The runtime stores ``state``, appends ``history``, publishes ``commands``
    (through its outbox) and handles the deadline: when ``armed`` is set it
    schedules it ``armed.after_seconds`` from now, replacing any other; when
    ``state.deadline`` is None it clears the saga's deadline; otherwise the one
    already scheduled stays as it is (an ignored input must not postpone it).
    """

    state: SagaState
    commands: tuple[Command, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    armed: Deadline | None = None

    @property
    def deadline(self) -> Deadline | None:
        """The saga's live deadline after this decision."""
        return self.state.deadline

    @property
    def ignored(self) -> bool:
        """True when the input changed nothing (duplicate, stale or irrelevant)."""
        return any(entry.kind == HistoryKind.ignored for entry in self.history)


# --- the steps --------------------------------------------------------------------


@dataclass(frozen=True)
class _StepSpec:
    name: StepName
    status: SagaStatus
    """The saga's status while this step runs forward."""
    action: type[Command]
    success: type[Event]
    refusal: type[Event] | None
    compensation: type[Command]
    compensated: type[Event]
    always_compensate: bool = False
    """The order must end cancelled even if it was never confirmed."""


STEPS: tuple[_StepSpec, ...] = (
    _StepSpec(
        name=StepName.inventory,
        status=SagaStatus.reserving_inventory,
        action=ReserveInventory,
        success=InventoryReserved,
        refusal=InventoryInsufficient,
        compensation=ReleaseInventory,
        compensated=InventoryReleased,
    ),
    _StepSpec(
        name=StepName.payment,
        status=SagaStatus.charging_payment,
        action=ChargePayment,
        success=PaymentCompleted,
        refusal=PaymentFailed,
        compensation=RefundPayment,
        compensated=PaymentRefunded,
    ),
    _StepSpec(
        name=StepName.order,
        status=SagaStatus.confirming_order,
        action=ConfirmOrder,
        success=OrderConfirmed,
        refusal=None,
        compensation=CancelOrder,
        compensated=OrderCancelled,
        always_compensate=True,
    ),
)
"""The forward steps in order; compensation runs them backwards."""

_SPEC_BY_COMMAND: dict[str, _StepSpec] = {
    command.type_name: spec for spec in STEPS for command in (spec.action, spec.compensation)
}
_FORWARD_STATUSES = tuple(spec.status for spec in STEPS)


def _next_spec(spec: _StepSpec) -> _StepSpec | None:
    index = STEPS.index(spec)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


def _build_command(state: SagaState, command: str) -> Command:
    order = state.order
    if command == ReserveInventory.type_name:
        return ReserveInventory(
            order_id=state.saga_id,
            items=[ReservedItem(product_id=i.product_id, quantity=i.quantity) for i in order.items],
        )
    if command == ReleaseInventory.type_name:
        return ReleaseInventory(order_id=state.saga_id)
    if command in (ChargePayment.type_name, RefundPayment.type_name):
        # A refund asks for what the saga charged; payments refunds what it actually
        # captured (nothing, if the charge never happened), so this is always safe.
        model = ChargePayment if command == ChargePayment.type_name else RefundPayment
        return model(
            order_id=state.saga_id,
            user_id=order.user_id,
            amount=order.total_amount,
            currency=order.currency,
            payment_method_id=order.payment_method_id,
        )
    if command == ConfirmOrder.type_name:
        return ConfirmOrder(order_id=state.saga_id)
    if command == CancelOrder.type_name:
        return CancelOrder(order_id=state.saga_id, reason=state.failure_reason)
    raise ValueError(f"the order saga does not send {command!r}")


# --- one reaction -------------------------------------------------------------------


class _Reaction:
    """Accumulates one decision: handlers update the state and send commands through it."""

    def __init__(self, config: SagaConfig, state: SagaState) -> None:
        self.config = config
        self.source = state.status
        self.state = state
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.armed: Deadline | None = None

    def record(self, kind: HistoryKind, **detail: Any) -> None:
        self.history.append(HistoryEntry(kind.value, detail))

    def update(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def step(self, name: StepName) -> StepRecord:
        return self.state.steps.get(name)

    def set_step(self, name: StepName, **changes: Any) -> None:
        record = replace(self.step(name), **changes)
        self.update(steps=self.state.steps.with_record(name, record))

    def move(self, status: SagaStatus) -> None:
        self.update(status=status)

    def ignore(self, why: str) -> None:
        self.record(HistoryKind.ignored, why=why)

    def arm(self, deadline: Deadline) -> None:
        self.armed = deadline
        self.update(deadline=deadline)

    def clear_deadline(self) -> None:
        self.armed = None
        self.update(deadline=None)

    def send(self, command: str) -> None:
        """Send ``command`` (which must be ``current``) and arm its step timeout."""
        spec = _SPEC_BY_COMMAND[command]
        record = self.step(spec.name)
        if command == spec.action.type_name:
            known: StepState = (
                StepState.pending if record.state is StepState.not_started else record.state
            )
            record = replace(record, state=known, sent=record.sent + 1)
            attempt = record.sent
        else:
            # Sent after the step was known done, this compensation surely comes after
            # the step's effect (which acknowledgement answers it: see StepRecord).
            known = StepState.compensating if record.state is StepState.done else record.state
            record = replace(record, state=known, compensations_sent=record.compensations_sent + 1)
            attempt = record.compensations_sent
        self.update(steps=self.state.steps.with_record(spec.name, record), backing_off=False)
        message = _build_command(self.state, command)
        self.commands.append(message)
        self.record(HistoryKind.command_out, type=command, attempt=attempt, body=message.dump())
        self.arm(Deadline(command, attempt, self.config.step_timeout_seconds))

    def decision(self) -> Decision:
        history = list(self.history)
        if self.state.status != self.source:
            history.append(
                HistoryEntry(
                    HistoryKind.transition.value,
                    {"from": self.source.value, "to": self.state.status.value},
                )
            )
        return Decision(
            state=self.state,
            commands=tuple(self.commands),
            history=tuple(history),
            armed=self.armed,
        )


# --- handlers ------------------------------------------------------------------------
#
# A handler gets the reaction and the input its rule matched.  Handlers for the
# forward steps and for compensations are built per step from STEPS, so the three
# steps cannot drift apart.

Handler: TypeAlias = Callable[[_Reaction, Input], None]


def _start_step(r: _Reaction, spec: _StepSpec) -> None:
    r.update(current=spec.action.type_name, failures=0)
    r.move(spec.status)
    r.send(spec.action.type_name)


def _begin_compensation(r: _Reaction, reason: str) -> None:
    """Undo every step that happened or may have happened, newest first, then cancel."""
    if r.state.current is not None:
        running = _SPEC_BY_COMMAND[r.state.current]
        if r.step(running.name).state is StepState.pending:
            r.set_step(running.name, state=StepState.unknown)
    # Newest first (refund before release), and the order last whatever happened to
    # it: it only shows `cancelled` once the stock and the money are back.
    undo = tuple(
        spec.compensation.type_name
        for spec in reversed(STEPS)
        if not spec.always_compensate and r.step(spec.name).state in _POSSIBLY_DONE
    )
    plan = undo + tuple(spec.compensation.type_name for spec in STEPS if spec.always_compensate)
    r.update(
        failure_reason=reason,
        current=plan[0],
        pending_compensations=plan[1:],
        failures=0,
    )
    r.move(SagaStatus.compensating)
    r.send(plan[0])


def _next_compensation(r: _Reaction) -> None:
    queue = r.state.pending_compensations
    if queue:
        r.update(current=queue[0], pending_compensations=queue[1:], failures=0)
        r.send(queue[0])
        return
    r.update(current=None, failures=0, backing_off=False)
    r.clear_deadline()
    r.move(SagaStatus.cancelled)


def _succeeded(r: _Reaction, spec: _StepSpec, input: Input) -> None:
    """Record a success reply: the step is done, after every compensation sent so far."""
    sent = r.step(spec.name).compensations_sent
    r.set_step(spec.name, state=StepState.done, compensations_at_success=sent)
    _note_money(r, input)


def _price_mismatch(order: OrderData, reserved: InventoryReserved) -> str | None:
    """Why the prices the reservation reports do not back the order, or None.

    Every order line must carry its product's catalogue unit price and currency
    as the reservation reports them, and the total must be what they add up to:
    the saga charges the order's total, so a price set by the caller (a stale
    client, a script) is refused here whoever placed the order."""
    catalogue = {item.product_id: item for item in reserved.items}
    problems: dict[str, str] = {}
    for line in order.items:
        item = catalogue.get(line.product_id)
        if item is None or item.unit_price is None or item.currency is None:
            problems[line.product_id] = f"{line.product_id} was reserved without a catalogue price"
        elif item.currency != order.currency:
            problems[line.product_id] = (
                f"{line.product_id} is priced in {item.currency}, the order in {order.currency}"
            )
        elif item.unit_price != line.unit_price:
            problems[line.product_id] = (
                f"{line.product_id} costs {item.unit_price} {item.currency} in the catalogue, "
                f"the order says {line.unit_price}"
            )
    if not problems:
        priced = sum(
            line.quantity * (catalogue[line.product_id].unit_price or 0) for line in order.items
        )
        if priced != order.total_amount:
            problems["total"] = f"the total {order.total_amount} is not the catalogue's {priced}"
    return "price mismatch: " + "; ".join(problems.values()) if problems else None


def _forward_success(spec: _StepSpec) -> Handler:
    def handle(r: _Reaction, input: Input) -> None:
        _succeeded(r, spec, input)
        if isinstance(input, InventoryReserved):
            mismatch = _price_mismatch(r.state.order, input)
            if mismatch is not None:
                _begin_compensation(r, mismatch)
                return
        following = _next_spec(spec)
        if following is not None:
            _start_step(r, following)
            return
        r.update(current=None, failures=0)
        r.clear_deadline()
        r.move(SagaStatus.completed)

    return handle


def _refusal_reason(input: Input) -> str:
    if isinstance(input, InventoryInsufficient):
        short = ", ".join(
            f"{s.product_id} (requested {s.requested}, available {s.available})"
            for s in input.shortages
        )
        return f"insufficient stock: {short}" if short else "insufficient stock"
    if isinstance(input, PaymentFailed):
        return f"payment declined: {input.reason} ({input.code})"
    return f"{input_name(input)} refused"


def _forward_refusal(spec: _StepSpec) -> Handler:
    def handle(r: _Reaction, input: Input) -> None:
        r.set_step(spec.name, state=StepState.refused)
        _begin_compensation(r, _refusal_reason(input))

    return handle


def _forward_timeout(r: _Reaction, input: Input) -> None:
    command = _current(r)
    if r.state.failures < r.config.step_retries:
        r.update(failures=r.state.failures + 1)
        r.send(command)
        return
    # The outcome is unknown: the command may have been carried out with its reply
    # lost, so the step is compensated as if it happened (refund, release).
    _begin_compensation(r, f"{command} not answered after {r.state.attempt} attempts")


def _retry_current(r: _Reaction, input: Input) -> None:
    """Resend the awaited command now with a fresh retry budget."""
    r.update(failures=0)
    r.send(_current(r))


def _customer_cancel(r: _Reaction, input: Input) -> None:
    assert isinstance(input, OrderCancelRequested)
    _begin_compensation(r, f"cancel requested by {input.requested_by}")


def _order_cancelled_elsewhere(r: _Reaction, input: Input) -> None:
    # Not a reply (no order.cancel was sent): the order was cancelled outside the
    # saga, so undo everything; order.cancel is still sent, and is a no-op.
    assert isinstance(input, OrderCancelled)
    detail = f": {input.reason}" if input.reason else ""
    _begin_compensation(r, f"order cancelled outside the saga{detail}")


def _operator_abort(r: _Reaction, input: Input) -> None:
    assert isinstance(input, OperatorAbort)
    detail = f": {input.reason}" if input.reason else ""
    _begin_compensation(r, f"aborted by {input.actor}{detail}")


def _note_money(r: _Reaction, input: Input) -> None:
    if isinstance(input, PaymentCompleted):
        r.update(captured=max(r.state.captured, input.amount))
    elif isinstance(input, PaymentRefunded):
        r.update(refunded=max(r.state.refunded, input.amount))


def _undone(r: _Reaction, spec: _StepSpec) -> bool:
    """Whether an acknowledged compensation is known to have undone the step.

    Money is settled by the amounts: an order has at most one capture, and
    payments answers a refund with the total refunded so far, so the refund is
    complete once that total reaches what was captured, whichever refund
    command the answer belongs to.  For the other steps the answers carry no
    such total, so the saga counts them (see StepRecord): a step learned done
    after its compensation went out needs one more, sent after that.
    """
    if spec.name is StepName.payment:
        return r.state.refunded >= r.state.captured
    return r.step(spec.name).undone


def _compensation_acknowledged(spec: _StepSpec) -> Handler:
    def handle(r: _Reaction, input: Input) -> None:
        command = spec.compensation.type_name
        if r.state.current != command:
            r.ignore(f"not waiting for {command}")
            return
        _note_money(r, input)
        acknowledged = r.step(spec.name).compensations_acknowledged + 1
        r.set_step(spec.name, compensations_acknowledged=acknowledged)
        if not _undone(r, spec):
            # The answer may belong to a compensation processed before the step's
            # effect: send one that surely comes after it.
            r.update(failures=0)
            r.send(command)
            return
        if r.step(spec.name).state in (
            StepState.done,
            StepState.compensating,
            StepState.not_started,
        ):
            r.set_step(spec.name, state=StepState.compensated)
        _next_compensation(r)

    return handle


def _compensation_refused(r: _Reaction, input: Input) -> None:
    assert isinstance(input, PaymentRefundFailed)
    if r.state.current != RefundPayment.type_name:
        r.ignore(f"not waiting for {RefundPayment.type_name}")
        return
    if r.state.backing_off:
        r.ignore("a retry is already scheduled")
        return
    failures = r.state.failures + 1
    reason = f"refund declined: {input.reason} ({input.code})"
    r.update(failures=failures, failure_reason=reason)
    if failures > r.config.compensation_retries:
        _fail(r)
        return
    # Same (step, attempt) as the timeout it replaces: see Deadline.
    r.update(backing_off=True)
    r.arm(Deadline(RefundPayment.type_name, r.state.attempt, r.config.backoff(failures)))


def _compensation_timeout(r: _Reaction, input: Input) -> None:
    command = _current(r)
    if r.state.backing_off:
        r.send(command)
        return
    failures = r.state.failures + 1
    r.update(failures=failures)
    if failures > r.config.compensation_retries:
        r.update(failure_reason=f"{command} not answered after {r.state.attempt} attempts")
        _fail(r)
        return
    r.send(command)


def _fail(r: _Reaction) -> None:
    # `current` keeps the compensation that failed, so an operator retry resumes it.
    r.update(backing_off=False)
    r.clear_deadline()
    r.move(SagaStatus.failed)


def _resume_failed(r: _Reaction, input: Input) -> None:
    r.move(SagaStatus.compensating)
    _retry_current(r, input)


def _late_success(spec: _StepSpec) -> Handler:
    """A success reply once compensation has begun: make sure a compensation follows it.

    Even a step already known done is not treated as a duplicate here: a
    participant without tombstones may carry out a delayed command *after* the
    compensation (reserve, release, then a resent reserve), so every success
    reply needs a compensation sent after it.  Compensations are idempotent, so
    a true duplicate costs one no-op command.
    """

    def handle(r: _Reaction, input: Input) -> None:
        _succeeded(r, spec, input)
        command = spec.compensation.type_name
        if spec.name is StepName.payment and command != r.state.current and _undone(r, spec):
            # A refund already paid back what this reports captured.
            r.set_step(spec.name, state=StepState.compensated)
            return
        if command in r.state.pending_compensations:
            return  # still to be sent, so it will come after this reply
        if command == r.state.current:
            # In flight, maybe from before this reply: as the step is now `done`, its
            # acknowledgement sends it once more (see _compensation_acknowledged).
            return
        if r.state.status is SagaStatus.cancelled:
            r.update(current=command, pending_compensations=(), failures=0)
            r.move(SagaStatus.compensating)
            r.send(command)
            return
        # compensating or failed: undo it after the compensations already planned.
        r.update(pending_compensations=(*r.state.pending_compensations, command))

    return handle


def _late_refusal(spec: _StepSpec) -> Handler:
    def handle(r: _Reaction, input: Input) -> None:
        if r.step(spec.name).state not in (StepState.pending, StepState.unknown):
            r.ignore(f"stale: {spec.name.value} step is {r.step(spec.name).state.value}")
            return
        r.set_step(spec.name, state=StepState.refused)

    return handle


def _current(r: _Reaction) -> str:
    command = r.state.current
    if command is None:  # every rule using this only exists for statuses that await a reply
        raise UndeclaredTransition(f"no command awaited in status {r.state.status}")
    return command


# --- the transition table --------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``react`` in ``source`` on input ``input`` runs ``handler``, ending in one of ``targets``.

    Unless the handler ignores the input (then the status does not change),
    ``react`` checks that the saga ends in one of the declared ``targets``.
    """

    source: SagaStatus
    input: str
    targets: tuple[SagaStatus, ...]
    handler: Handler = field(compare=False, repr=False)


@dataclass(frozen=True)
class Transition:
    """One edge of the state diagram; ``source`` None is the saga's start."""

    source: SagaStatus | None
    input: str
    target: SagaStatus


def _rules() -> tuple[Rule, ...]:
    s = SagaStatus
    rules: list[Rule] = []

    def add(source: SagaStatus, input: str, targets: tuple[SagaStatus, ...], h: Handler) -> None:
        rules.append(Rule(source, input, targets, h))

    for spec in STEPS:
        following = _next_spec(spec)
        advance = following.status if following is not None else s.completed
        # A reservation at prices other than the order's is undone at once.
        succeeded = (advance, s.compensating) if spec.success is InventoryReserved else (advance,)
        add(spec.status, spec.success.type_name, succeeded, _forward_success(spec))
        if spec.refusal is not None:
            add(spec.status, spec.refusal.type_name, (s.compensating,), _forward_refusal(spec))
        add(spec.status, DEADLINE_FIRED, (spec.status, s.compensating), _forward_timeout)
        add(spec.status, OPERATOR_RETRY, (spec.status,), _retry_current)
        add(spec.status, OPERATOR_ABORT, (s.compensating,), _operator_abort)

    for source in (*_FORWARD_STATUSES, s.completed):
        add(source, OrderCancelRequested.type_name, (s.compensating,), _customer_cancel)
        add(source, OrderCancelled.type_name, (s.compensating,), _order_cancelled_elsewhere)

    for spec in STEPS:
        add(
            s.compensating,
            spec.compensated.type_name,
            (s.compensating, s.cancelled),
            _compensation_acknowledged(spec),
        )
    add(
        s.compensating,
        PaymentRefundFailed.type_name,
        (s.compensating, s.failed),
        _compensation_refused,
    )
    add(s.compensating, DEADLINE_FIRED, (s.compensating, s.failed), _compensation_timeout)
    add(s.compensating, OPERATOR_RETRY, (s.compensating,), _retry_current)
    add(s.failed, OPERATOR_RETRY, (s.compensating,), _resume_failed)

    for spec in STEPS:
        late = _late_success(spec)
        add(s.compensating, spec.success.type_name, (s.compensating,), late)
        # A late capture already paid back by an earlier refund leaves the saga cancelled.
        after_cancel = (
            (s.compensating, s.cancelled) if spec.name is StepName.payment else (s.compensating,)
        )
        add(s.cancelled, spec.success.type_name, after_cancel, late)
        add(s.failed, spec.success.type_name, (s.failed,), late)
        if spec.refusal is not None:
            for source in (s.compensating, s.cancelled, s.failed):
                add(source, spec.refusal.type_name, (source,), _late_refusal(spec))
    return tuple(rules)


RULES: tuple[Rule, ...] = _rules()
"""The table :meth:`OrderSaga.react` dispatches on; anything not in it is ignored."""

START = Transition(None, OrderCreated.type_name, SagaStatus.reserving_inventory)


def transitions_of(rules: Sequence[Rule]) -> tuple[Transition, ...]:
    """The edges a rule table can take, the start edge first."""
    edges = [START]
    for rule in rules:
        edges.extend(Transition(rule.source, rule.input, target) for target in rule.targets)
    return tuple(edges)


TRANSITIONS: tuple[Transition, ...] = transitions_of(RULES)
"""Every (from, input, to) the saga can take, derived from :data:`RULES`."""


# --- the definition ---------------------------------------------------------------------


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

        r = _Reaction(self.config, state)
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
            r.ignore(_why_not_expected(state, input))
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
        r = _Reaction(self.config, state)
        r.record(HistoryKind.message_in, type=event.type_name, body=event.dump())
        _start_step(r, STEPS[0])
        # The saga did not exist before; record its birth as a transition from nothing.
        r.history.append(
            HistoryEntry(HistoryKind.transition.value, {"from": None, "to": state.status.value})
        )
        return r.decision()


def _why_not_expected(state: SagaState, input: Input) -> str:
    name = input_name(input)
    if isinstance(input, OrderCreated):
        return "duplicate: the saga already started"
    for spec in STEPS:
        record = state.steps.get(spec.name)
        if isinstance(input, spec.success) and record.state in _KNOWN_DONE:
            return f"duplicate: {name} already received"
        if isinstance(input, spec.compensated):
            return f"not waiting for {spec.compensation.type_name}"
        if spec.refusal is not None and isinstance(input, spec.refusal):
            return f"stale: {spec.name.value} step is {record.state.value}"
    if isinstance(input, OrderCancelRequested) and state.status is not SagaStatus.completed:
        return f"already {state.status.value}"
    return f"{name} is not expected while {state.status.value}"


# --- replay --------------------------------------------------------------------------------


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
        if actual != expected:
            divergences.append(Divergence(index, input, expected, actual))
    return ReplayReport(divergences, state)
