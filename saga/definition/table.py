"""The transition table :meth:`OrderSaga.react` dispatches on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from saga.definition.handlers import (
    Handler,
    _compensation_acknowledged,
    _compensation_refused,
    _compensation_timeout,
    _customer_cancel,
    _forward_refusal,
    _forward_success,
    _forward_timeout,
    _late_refusal,
    _late_success,
    _operator_abort,
    _order_cancelled_elsewhere,
    _resume_failed,
    _retry_current,
)
from saga.definition.inputs import DEADLINE_FIRED, OPERATOR_ABORT, OPERATOR_RETRY
from saga.definition.statuses import SagaStatus, StepName
from saga.definition.steps import FORWARD_STATUSES, STEPS, next_spec
from shared.messages import (
    InventoryReserved,
    OrderCancelled,
    OrderCancelRequested,
    OrderCreated,
    PaymentRefundFailed,
)


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
        following = next_spec(spec)
        advance = following.status if following is not None else s.completed
        # A reservation at prices other than the order's is undone at once.
        succeeded = (advance, s.compensating) if spec.success is InventoryReserved else (advance,)
        add(spec.status, spec.success.type_name, succeeded, _forward_success(spec))
        if spec.refusal is not None:
            add(spec.status, spec.refusal.type_name, (s.compensating,), _forward_refusal(spec))
        add(spec.status, DEADLINE_FIRED, (spec.status, s.compensating), _forward_timeout)
        add(spec.status, OPERATOR_RETRY, (spec.status,), _retry_current)
        add(spec.status, OPERATOR_ABORT, (s.compensating,), _operator_abort)

    for source in (*FORWARD_STATUSES, s.completed):
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
