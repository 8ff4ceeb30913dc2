"""What a saga remembers between two inputs, and its JSON codec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from saga.definition.errors import InvalidSagaState
from saga.definition.inputs import JSON, DeadlineFired
from saga.definition.statuses import (
    COMPENSATING,
    UNDOING,
    SagaStatus,
    StepName,
    StepState,
)
from saga.definition.steps import STEP_BY_COMMAND, STEP_BY_NAME, STEP_BY_STATUS, Step
from shared.messages import OrderCreated


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


@dataclass(frozen=True)
class StepRecord:
    """What is known about one step, and how often its commands were sent.

    The send counters never go back, so ``(command, attempt)`` identifies one send
    for the saga's whole life (deadlines rely on that).

    The compensation counters tell which acknowledgement of a compensation proves
    the step undone.  Each command is handled at most once and each reply reaches
    the saga at most once (both sides keep an inbox), so the first
    ``compensations_at_success`` compensations can be answered at most that many
    times.  An acknowledgement beyond that count answers a compensation sent after
    the last success reply arrived, hence carried out after every effect the
    participant reported; an earlier one may predate an effect (reserve, release,
    then a resent reserve) and proves nothing.

    Every participant here keeps tombstones (a released order refuses a later
    reserve, a refunded one a later charge, a cancelled one a confirm), and with
    tombstones the first acknowledgement would do.  The counters stay anyway: the
    saga does not rest its "nothing leaks" guarantee on a property of other
    services it cannot check (a participant that prunes its tombstones, or one
    added later without them, would leak stock silently), the property tests run
    participants both with and without tombstones, and the price is one
    redundant, idempotent compensation in a rare race.  Payment needs none of
    this: its answers carry amounts (see ``progress.refunds_cover_the_capture``).
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
class Timer:
    """When the saga wants to be woken up: ``after_seconds`` from the decision.

    The timer a decision arms becomes the saga's deadline (``SagaState.deadline``,
    stored as a row the runtime polls); its firing is the input :class:`DeadlineFired`.
    Not :class:`bff.downstream.Deadline`, a request's budget on a monotonic clock.

    ``command`` is the command the saga waits on and ``attempt`` the send it guards.
    A backoff wait before retrying a refused compensation reuses the refused
    send's ``(command, attempt)``: the timeout it replaces can then only end the
    wait early, never count as one more failure.
    """

    command: str
    attempt: int
    after_seconds: float

    def matches(self, fired: DeadlineFired) -> bool:
        return (self.command, self.attempt) == (fired.command, fired.attempt)

    def to_json(self) -> JSON:
        return {
            "command": self.command,
            "attempt": self.attempt,
            "afterSeconds": self.after_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Timer:
        # Definition version 3 and earlier stored the command as "step".
        command = data["command"] if "command" in data else data["step"]
        return cls(str(command), int(data["attempt"]), float(data["afterSeconds"]))


@dataclass(frozen=True)
class SagaState:
    """Everything the saga remembers between two inputs.

    What the saga awaits follows from its status (:attr:`step`, :attr:`current`),
    and what is left to undo from its steps (``progress.undo_plan``): neither is
    stored twice.
    """

    saga_id: str
    """The saga's id, which is the order id."""
    status: SagaStatus
    order: OrderData
    steps: Steps = Steps()
    failed_step: StepName | None = None
    """While ``failed``: the step whose compensation failed, which an operator retry resumes."""
    failures: int = 0
    """Timeouts (and refusals, while compensating) of the awaited command since it was first sent."""
    backing_off: bool = False
    """True while waiting out a backoff before retrying a refused compensation."""
    deadline: Timer | None = None
    failure_reason: str | None = None
    """Why the saga compensates: the reason the order ends cancelled with."""
    compensation_failure: str | None = None
    """Why the last attempt of the awaited compensation failed (refused, unanswered),
    until one succeeds; every attempt is in the saga's timeline."""
    captured: int = 0
    """The amount ``payment.completed`` reported captured (0 until one arrives)."""
    refunded: int = 0
    """The most ``payment.refunded`` reported refunded so far (payments answers a total)."""
    shipment: str | None = None
    """The carrier and tracking number ``order.shipped`` reported (None until it arrives):
    from then on a cancel is a return, and an undo begun earlier tells the warehouse."""

    @property
    def step(self) -> Step | None:
        """The step whose command or compensation the saga awaits (or, failed, would resume)."""
        if self.status is SagaStatus.failed and self.failed_step is not None:
            return STEP_BY_NAME[self.failed_step]
        return STEP_BY_STATUS.get(self.status)

    @property
    def reason(self) -> str | None:
        """What ops are shown: a compensation's trouble while it lasts, else why the saga compensates."""
        return self.compensation_failure or self.failure_reason

    @property
    def undoing(self) -> bool:
        """Whether the saga awaits (or, failed, would resume) a compensation."""
        return self.status in UNDOING or self.status is SagaStatus.failed

    @property
    def current(self) -> str | None:
        """The command whose reply the saga awaits (forward or compensation), if any."""
        step = self.step
        if step is None:
            return None
        return (step.compensation if self.undoing else step.command).type_name

    @property
    def attempt(self) -> int:
        """How often ``current`` has been sent (0 when nothing is awaited)."""
        step = self.step
        if step is None:
            return 0
        record = self.steps.get(step.name)
        return record.compensations_sent if self.undoing else record.sent

    def to_json(self) -> JSON:
        """A plain JSON-able dict; :meth:`from_json` restores an equal state."""
        return {
            "sagaId": self.saga_id,
            "status": self.status.value,
            "order": self.order.to_json(),
            "steps": self.steps.to_json(),
            "failedStep": None if self.failed_step is None else self.failed_step.value,
            "failures": self.failures,
            "backingOff": self.backing_off,
            "deadline": None if self.deadline is None else self.deadline.to_json(),
            "failureReason": self.failure_reason,
            "compensationFailure": self.compensation_failure,
            "captured": self.captured,
            "refunded": self.refunded,
            "shipment": self.shipment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SagaState:
        """Restore a state stored by :meth:`to_json`, or by definition version 3.

        Raises :class:`InvalidSagaState`.  Version 3 had one ``compensating``
        status, kept the awaited command as ``current`` and the compensations still
        to send as ``pendingCompensations``.  The command it awaited names the
        compensation state (``payment.refund``: ``refunding_payment``...), or the
        step a ``failed`` saga resumes.  The queue is not read: it held the
        compensations of the steps that may have happened and were not known
        undone, newest first and the order last, which is what the plan derived
        from the steps gives.  (A late capture that arrived while releasing was
        queued behind the cancel; it is now refunded before it.)
        """
        try:
            deadline = data["deadline"]
            status, failed_step = _status_of(data)
            return cls(
                saga_id=str(data["sagaId"]),
                status=status,
                order=OrderData.from_json(data["order"]),
                steps=Steps.from_json(data["steps"]),
                failed_step=failed_step,
                failures=int(data["failures"]),
                backing_off=bool(data["backingOff"]),
                deadline=None if deadline is None else Timer.from_json(deadline),
                failure_reason=data["failureReason"],
                # Stored before the trouble of a compensation had a field of its own.
                compensation_failure=data.get("compensationFailure"),
                captured=int(data["captured"]),
                refunded=int(data["refunded"]),
                # Stored before orders were shipped (definition version 5 and earlier).
                shipment=data.get("shipment"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSagaState(f"cannot decode saga state: {exc!r}") from exc


def _status_of(data: Mapping[str, Any]) -> tuple[SagaStatus, StepName | None]:
    """The status and failed step of a stored state, of this version or of version 3."""
    if "failedStep" in data:
        failed = data["failedStep"]
        return SagaStatus(data["status"]), None if failed is None else StepName(failed)
    awaited = STEP_BY_COMMAND.get(str(data["current"]))
    if data["status"] == COMPENSATING:
        if awaited is None:
            raise ValueError("a compensating saga awaiting no compensation")
        return awaited.undoing, None
    status = SagaStatus(data["status"])
    if status is SagaStatus.failed:
        if awaited is None:
            raise ValueError("a failed saga with no compensation to resume")
        return status, awaited.name
    return status, None
