"""Why a saga is stuck, in words true of what happened: a refund the card declined
is not a command "sent N times without an answer"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from saga.definition import TERMINAL, SagaState
from saga.models import AT_REST_SQL, SagaRow
from saga.stuck import StuckRule
from tests.unit.saga.definition.given import (
    FIRE,
    GIVEN,
    REFUND_FAILED,
    REFUNDED_NOTHING,
    Feed,
    run,
)

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
RULE = StuckRule(grace_seconds=2)
DECLINED = "refund declined: gateway refused (refund_declined)"


def why(*steps: Feed) -> str | None:
    state = run(steps)
    assert isinstance(state, SagaState)
    row = SagaRow(
        id=state.saga_id,
        status=state.status.value,
        state=state.to_json(),
        definition_version=4,
        user_id="user-1",
        updated_at=NOW - timedelta(seconds=5),
        deadline_at=NOW + timedelta(seconds=5),
    )
    return RULE.why(row, state, NOW)


def test_a_refund_declined_then_sent_again_says_it_was_declined() -> None:
    assert why(*GIVEN["refunding"], REFUND_FAILED) is None  # first send, within its deadline
    resent = why(*GIVEN["refunding"], REFUND_FAILED, FIRE)
    assert resent == (
        f"waits on payment.refund, sent 2 times; declined before ({DECLINED}), "
        "last sent at 2026-12-06T07:59:55+00:00"
    )
    pausing = why(*GIVEN["refunding"], REFUND_FAILED, FIRE, REFUND_FAILED)
    assert pausing == (
        f"payment.refund sent 2 times and declined ({DECLINED}); sent again after a pause, "
        "unchanged since 2026-12-06T07:59:55+00:00"
    )


def test_a_refund_answered_short_then_sent_again_says_it_was_answered() -> None:
    state = run(GIVEN["refunding"])
    assert state is not None
    short = (
        f"refund short: payments reports 0 refunded of {state.captured} captured, "
        "answering a refund sent after the capture"
    )
    assert why(*GIVEN["refunding"], REFUNDED_NOTHING, FIRE, REFUNDED_NOTHING) == (
        f"payment.refund sent 2 times and answered short ({short}); sent again after a "
        "pause, unchanged since 2026-12-06T07:59:55+00:00"
    )
    assert why(*GIVEN["refunding"], REFUNDED_NOTHING, FIRE) == (
        f"waits on payment.refund, sent 2 times; answered short before ({short}), "
        "last sent at 2026-12-06T07:59:55+00:00"
    )


def test_a_command_resent_for_want_of_an_answer_says_so() -> None:
    assert why(*GIVEN["charging"], FIRE) == (
        "waits on payment.charge: sent 2 times without an answer, last at 2026-12-06T07:59:55+00:00"
    )


def test_the_index_over_sagas_not_at_rest_names_exactly_the_states_at_rest() -> None:
    named = set(re.findall(r"'([a-z_]+)'", AT_REST_SQL))
    assert named == {status.value for status in TERMINAL}
