"""What the saga sends and records: the commands' data, deadlines, backoff, history."""

from __future__ import annotations

from saga.definition import (
    DeadlineFired,
    SagaConfig,
    SagaStatus,
)
from shared.messages import (
    CancelOrder,
    ChargePayment,
    RefundPayment,
    ReservedItem,
    ReserveInventory,
)
from tests.unit.saga.definition.given import (
    CANCEL_REQUESTED,
    CHARGE,
    CONFIG,
    CREATED,
    FIRE,
    GIVEN,
    ORDER,
    REFUND_FAILED,
    REFUNDED_NOTHING,
    RESERVE,
    RESERVED,
    RETRY,
    SAGA,
    drive,
    fire_now,
    resolve,
    run,
    s,
)

# --- commands, deadlines and history details ---------------------------------------------


def test_commands_carry_the_order_data() -> None:
    decision = SAGA.react(run(GIVEN["charging"]), fire_now(GIVEN["charging"]))
    (charge,) = decision.commands
    assert charge == ChargePayment(
        order_id=ORDER,
        user_id="user-1",
        amount=1999,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )
    (reserve,) = SAGA.react(None, CREATED).commands
    assert reserve == ReserveInventory(
        order_id=ORDER,
        items=[
            ReservedItem(product_id="p-1", quantity=2),
            ReservedItem(product_id="p-2", quantity=1),
        ],
    )


def test_refund_asks_for_the_order_total_and_cancel_says_why() -> None:
    refund_decision = SAGA.react(run(GIVEN["completed"]), CANCEL_REQUESTED)
    (refund,) = refund_decision.commands
    assert isinstance(refund, RefundPayment)
    assert refund.amount == 1999

    cancel_decision = SAGA.react(
        run(GIVEN["cancelling_after_shortage"]), fire_now(GIVEN["cancelling_after_shortage"])
    )
    (cancel,) = cancel_decision.commands
    assert cancel == CancelOrder(
        order_id=ORDER, reason="insufficient stock: p-1 (requested 2, available 1)"
    )


def test_each_send_arms_a_new_deadline_for_its_attempt() -> None:
    first = SAGA.react(None, CREATED)
    second = SAGA.react(first.state, fire_now(GIVEN["reserving"]))

    assert first.armed == first.state.deadline
    assert first.state.deadline is not None
    assert (first.state.deadline.command, first.state.deadline.attempt) == (RESERVE, 1)
    assert second.state.deadline is not None
    assert (second.state.deadline.command, second.state.deadline.attempt) == (RESERVE, 2)
    assert second.state.deadline.after_seconds == CONFIG.step_timeout_seconds


def test_an_ignored_input_keeps_the_deadline_without_rearming_it() -> None:
    state = run(GIVEN["charging"])
    decision = SAGA.react(state, RESERVED)

    assert decision.armed is None
    assert state is not None
    assert decision.state.deadline == state.deadline


def test_refund_retries_back_off_exponentially() -> None:
    waits = []
    state = run(GIVEN["refunding"])
    for _ in range(CONFIG.compensation_retries):
        decision = SAGA.react(state, REFUND_FAILED)
        assert decision.armed is not None
        waits.append(decision.armed.after_seconds)
        state = SAGA.react(decision.state, resolve(decision.state, FIRE)).state

    assert waits == [2.0, 4.0]


def test_a_short_refund_after_the_capture_is_retried_on_backoff_then_failed_for_ops() -> None:
    """Payments answering less than the capture, for refunds sent after it, ends in
    ``failed`` after the compensation's retries, each on its backoff: not a refund
    sent back at once, for ever."""
    state = run(GIVEN["refunding"])
    assert state is not None
    captured, waits, sent = state.captured, [], 0
    while state.status is not SagaStatus.failed:
        decision = SAGA.react(state, REFUNDED_NOTHING)
        assert not decision.commands, "a refund sent at once, not after a backoff"
        if decision.armed is not None:
            waits.append(decision.armed.after_seconds)
            decision = SAGA.react(decision.state, resolve(decision.state, FIRE))
            sent += len(decision.commands)
        state = decision.state

    assert waits == [2.0, 4.0]
    assert sent == CONFIG.compensation_retries
    assert state.reason == (
        f"refund short: payments reports 0 refunded of {captured} captured, "
        "answering a refund sent after the capture"
    )


def test_backoff_is_capped() -> None:
    config = SagaConfig(compensation_backoff_seconds=10, compensation_backoff_max_seconds=25)
    assert [config.backoff(n) for n in (1, 2, 3, 4)] == [10.0, 20.0, 25.0, 25.0]


def test_ignored_inputs_say_why() -> None:
    decision = SAGA.react(run(GIVEN["charging"]), RESERVED)
    assert decision.history[-1].detail == {"why": "duplicate: inventory.reserved already received"}

    stale = SAGA.react(run(GIVEN["charging"]), DeadlineFired(RESERVE, 1))
    assert stale.history[-1].detail == {"why": "stale deadline inventory.reserve attempt 1"}


def test_history_records_the_message_the_command_and_the_transition() -> None:
    decision = SAGA.react(run(GIVEN["reserving"]), RESERVED)

    message_in, command_out, transition = decision.history
    assert message_in.detail == {"type": "inventory.reserved", "body": RESERVED.dump()}
    assert command_out.detail["type"] == CHARGE
    assert command_out.detail["attempt"] == 1
    assert command_out.detail["body"]["amount"] == 1999
    assert transition.detail == {"from": "reserving_inventory", "to": "charging_payment"}


def test_operator_retry_gives_the_step_a_fresh_retry_budget() -> None:
    state, sent = drive((*GIVEN["reserving_last_try"], RETRY, FIRE, FIRE))

    assert state.status is s.reserving_inventory
    assert sent == [RESERVE] * 6
