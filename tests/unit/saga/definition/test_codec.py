"""Starting a saga, and storing its state and inputs as JSON (and refusing what does not decode)."""

from __future__ import annotations

import pytest

from saga.definition import (
    DeadlineFired,
    Input,
    InvalidInput,
    InvalidSagaState,
    SagaNotStarted,
    SagaState,
    input_from_json,
    input_name,
    input_to_json,
)
from tests.unit.saga.definition.given import (
    ABORT,
    CANCEL_REQUESTED,
    CREATED,
    GIVEN,
    INSUFFICIENT,
    ORDER,
    PAID,
    REFUND_FAILED,
    RESERVE,
    RESERVED,
    RETRY,
    SAGA,
    run,
)

# --- starting, errors, serialisation -------------------------------------------------------


@pytest.mark.parametrize("input", [RESERVED, CANCEL_REQUESTED, RETRY, DeadlineFired(RESERVE, 1)])
def test_anything_but_order_created_before_the_saga_exists_is_refused(input: Input) -> None:
    with pytest.raises(SagaNotStarted):
        SAGA.react(None, input)


@pytest.mark.parametrize("name", sorted(GIVEN.keys() - {"new"}))
def test_state_round_trips_through_json(name: str) -> None:
    state = run(GIVEN[name])
    assert state is not None

    assert SagaState.from_json(state.to_json()) == state


def test_a_broken_stored_state_raises_a_typed_error() -> None:
    state = run(GIVEN["charging"])
    assert state is not None
    data = state.to_json()
    data["status"] = "dancing"

    with pytest.raises(InvalidSagaState):
        SagaState.from_json(data)


@pytest.mark.parametrize(
    "input",
    [CREATED, INSUFFICIENT, REFUND_FAILED, DeadlineFired(RESERVE, 2), RETRY, ABORT],
    ids=lambda i: input_name(i),
)
def test_inputs_round_trip_through_json(input: Input) -> None:
    data = input_to_json(input)

    assert input_from_json(data) == input


def test_stored_message_inputs_are_camel_case_bodies() -> None:
    assert input_to_json(PAID) == {
        "kind": "message",
        "type": "payment.completed",
        "body": {"orderId": ORDER, "paymentId": "pay-1", "amount": 1999},
    }


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "message", "type": "no.such", "body": {}},
        {"kind": "message", "type": "payment.completed", "body": {"orderId": 1}},
        {"kind": "deadline"},
        {"kind": "telepathy"},
    ],
)
def test_undecodable_inputs_raise_a_typed_error(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        input_from_json(data)
