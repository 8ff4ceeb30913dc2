"""The return saga's table, every (status, input) pair: each status is reached by
real inputs from ``return.requested``, fed one more input, and checked for the
status it ends in and the commands it sends; a pair the table does not take is
ignored, with why, and changes nothing.  Guarded rows get a case per guard."""

from __future__ import annotations

import pytest

from saga.definition import (
    DEADLINE_FIRED,
    OPERATOR_ABORT,
    OPERATOR_RETRY,
    DeadlineFired,
    Input,
    OperatorAbort,
    OperatorRetry,
    UndeclaredTransition,
)
from saga.returns import ReturnConfig, ReturnSaga, ReturnState, ReturnStatus
from saga.returns.table import INPUTS, RULES, TRANSITIONS, ReturnRule
from shared.messages import (
    InventoryRestocked,
    ReservedItem,
    ReturnClosed,
    ReturnExpired,
    ReturnLine,
    ReturnReceived,
    ReturnRefunded,
    ReturnRefundFailed,
    ReturnRequested,
)

CONFIG = ReturnConfig(
    receipt_timeout_seconds=600, step_timeout_seconds=5, step_retries=1, refund_retries=2
)
SAGA = ReturnSaga(CONFIG)
R, ORD = "ret-1", "ord-1"
REQUESTED = ReturnRequested(
    return_id=R,
    order_id=ORD,
    user_id="u1",
    items=[
        ReturnLine(product_id="p1", quantity=2, unit_price=500),
        ReturnLine(product_id="p2", quantity=1, unit_price=300),
    ],
    currency="EUR",
    payment_method_id="pm_card_ok",
)
RECEIVED = ReturnReceived(
    return_id=R, order_id=ORD, items=[ReservedItem(product_id="p1", quantity=1)]
)
RESTOCKED = InventoryRestocked(return_id=R, order_id=ORD)
REFUNDED = ReturnRefunded(return_id=R, order_id=ORD, amount=500)
REFUSED = ReturnRefundFailed(return_id=R, order_id=ORD, amount=500, reason="declined", code="x")
CLOSED = ReturnClosed(return_id=R, order_id=ORD, refunded_amount=500)
GONE = ReturnExpired(return_id=R, order_id=ORD)
RETRY = OperatorRetry(actor="ops", reason="try again")
ABORT = OperatorAbort(actor="ops", reason="customer kept it")


def run(*inputs: Input | str) -> ReturnState:
    """The state after ``return.requested`` and ``inputs`` (``"fire"``: its deadline)."""
    state = SAGA.react(None, REQUESTED).state
    for item in inputs:
        state = SAGA.react(state, fire(state) if item == "fire" else item).state  # type: ignore[arg-type]
    return state


def fire(state: ReturnState) -> DeadlineFired:
    assert state.deadline is not None
    return DeadlineFired(state.deadline.command, state.deadline.attempt)


GIVEN: dict[str, tuple[Input | str, ...]] = {
    "awaiting_receipt": (),
    "expiring": ("fire",),
    "restocking": (RECEIVED,),
    "refunding": (RECEIVED, RESTOCKED),
    "refunding backing off": (RECEIVED, RESTOCKED, REFUSED),
    "refunding out of refusals": (RECEIVED, RESTOCKED, REFUSED, "fire", REFUSED, "fire"),
    "closing": (RECEIVED, RESTOCKED, REFUNDED),
    "completed": (RECEIVED, RESTOCKED, REFUNDED, CLOSED),
    "expired": ("fire", GONE),
    "failed expiring": ("fire", "fire", "fire"),
    "failed restocking": (RECEIVED, "fire", "fire"),
    "failed refunding": (RECEIVED, RESTOCKED, REFUSED, "fire", REFUSED, "fire", REFUSED),
    "failed closing": (RECEIVED, RESTOCKED, REFUNDED, "fire", "fire"),
}
STATUS_OF = {
    "refunding backing off": "refunding",
    "refunding out of refusals": "refunding",
    "failed expiring": "failed",
    "failed restocking": "failed",
    "failed refunding": "failed",
    "failed closing": "failed",
}
MESSAGES: dict[str, Input] = {
    m.type_name: m for m in (RECEIVED, GONE, RESTOCKED, REFUNDED, REFUSED, CLOSED, REQUESTED)
}
RESTOCK, REFUND, CLOSE, EXPIRE = (
    "inventory.restock",
    "payment.refund_return",
    "return.close",
    "return.expire",
)

# (given, input) -> (status it ends in, commands sent); a pair not here is ignored.
EXPECTED: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("awaiting_receipt", "return.received"): ("restocking", (RESTOCK,)),
    ("awaiting_receipt", DEADLINE_FIRED): ("expiring", (EXPIRE,)),
    ("awaiting_receipt", OPERATOR_ABORT): ("expiring", (EXPIRE,)),
    ("expiring", "return.expired"): ("expired", ()),
    ("expiring", "return.received"): ("restocking", (RESTOCK,)),
    ("expiring", DEADLINE_FIRED): ("expiring", (EXPIRE,)),
    ("expiring", OPERATOR_RETRY): ("expiring", (EXPIRE,)),
    ("restocking", "inventory.restocked"): ("refunding", (REFUND,)),
    ("restocking", DEADLINE_FIRED): ("restocking", (RESTOCK,)),
    ("restocking", OPERATOR_RETRY): ("restocking", (RESTOCK,)),
    ("refunding", "payment.return_refunded"): ("closing", (CLOSE,)),
    ("refunding", "payment.return_refund_failed"): ("refunding", ()),
    ("refunding", DEADLINE_FIRED): ("refunding", (REFUND,)),
    ("refunding", OPERATOR_RETRY): ("refunding", (REFUND,)),
    ("refunding backing off", "payment.return_refunded"): ("closing", (CLOSE,)),
    ("refunding backing off", DEADLINE_FIRED): ("refunding", (REFUND,)),
    ("refunding backing off", OPERATOR_RETRY): ("refunding", (REFUND,)),
    ("refunding out of refusals", "payment.return_refunded"): ("closing", (CLOSE,)),
    ("refunding out of refusals", "payment.return_refund_failed"): ("failed", ()),
    ("refunding out of refusals", DEADLINE_FIRED): ("refunding", (REFUND,)),
    ("refunding out of refusals", OPERATOR_RETRY): ("refunding", (REFUND,)),
    ("closing", "return.closed"): ("completed", ()),
    ("closing", DEADLINE_FIRED): ("closing", (CLOSE,)),
    ("closing", OPERATOR_RETRY): ("closing", (CLOSE,)),
    ("failed expiring", OPERATOR_RETRY): ("expiring", (EXPIRE,)),
    ("failed expiring", "return.expired"): ("expired", ()),
    ("failed expiring", "return.received"): ("restocking", (RESTOCK,)),
    ("failed restocking", OPERATOR_RETRY): ("restocking", (RESTOCK,)),
    ("failed restocking", "inventory.restocked"): ("refunding", (REFUND,)),
    ("failed refunding", OPERATOR_RETRY): ("refunding", (REFUND,)),
    ("failed refunding", "payment.return_refunded"): ("closing", (CLOSE,)),
    ("failed closing", OPERATOR_RETRY): ("closing", (CLOSE,)),
    ("failed closing", "return.closed"): ("completed", ()),
}
OUT_OF_RESENDS = {
    "expiring out of resends": ("expiring", ("fire", "fire")),
    "restocking out of resends": ("restocking", (RECEIVED, "fire")),
    "refunding out of resends": ("refunding", (RECEIVED, RESTOCKED, "fire")),
    "closing out of resends": ("closing", (RECEIVED, RESTOCKED, REFUNDED, "fire")),
}
"""Each working status once its command was resent as often as allowed: the next
deadline fails the saga, every other input is answered as before."""
for _given, (_status, _inputs) in OUT_OF_RESENDS.items():
    GIVEN[_given] = _inputs
    STATUS_OF[_given] = _status
    for (_from, _name), _outcome in list(EXPECTED.items()):
        if _from == _status:
            EXPECTED[(_given, _name)] = ("failed", ()) if _name == DEADLINE_FIRED else _outcome
IGNORED_BACKING_OFF = {("refunding backing off", "payment.return_refund_failed")}


def the_input(state: ReturnState, name: str) -> Input:
    if name == DEADLINE_FIRED:
        return fire(state) if state.deadline is not None else DeadlineFired("return.close", 9)
    if name == OPERATOR_RETRY:
        return RETRY
    if name == OPERATOR_ABORT:
        return ABORT
    return MESSAGES[name]


PAIRS = [(given, name) for given in GIVEN for name in INPUTS]


def test_every_given_reaches_the_status_it_names() -> None:
    for given, inputs in GIVEN.items():
        assert run(*inputs).status.value == STATUS_OF.get(given, given), given


@pytest.mark.parametrize(("given", "name"), PAIRS, ids=[f"{g}--{n}" for g, n in PAIRS])
def test_each_status_answers_each_input_by_its_table_or_ignores_it_saying_why(
    given: str, name: str
) -> None:
    state = run(*GIVEN[given])
    decision = SAGA.react(state, the_input(state, name))
    sent = tuple(c.type_name for c in decision.commands)
    if (given, name) in EXPECTED:
        status, commands = EXPECTED[(given, name)]
        assert (decision.state.status.value, sent) == (status, commands)
        assert not decision.ignored or (given, name) in IGNORED_BACKING_OFF
    else:
        assert decision.ignored, decision.history
        assert decision.state.status is state.status
        assert sent == ()
        why = next(e.detail["why"] for e in decision.history if e.kind == "ignored")
        assert why


def test_every_declared_transition_is_taken_by_a_case() -> None:
    taken = {(STATUS_OF.get(g, g), n, s) for (g, n), (s, _) in EXPECTED.items()}
    taken.add((None, "return.requested", "awaiting_receipt"))  # type: ignore[arg-type]
    declared = {
        (None if t.source is None else t.source.value, t.input, t.target.value) for t in TRANSITIONS
    }
    # A restock with nothing to refund closes at once (a line priced 0).
    declared.discard(("restocking", "inventory.restocked", "closing"))
    declared.discard(("failed", "inventory.restocked", "closing"))
    assert declared - taken == set()


def test_a_restock_of_lines_priced_nothing_closes_without_a_refund() -> None:
    free = REQUESTED.model_copy(
        update={"items": [ReturnLine(product_id="p1", quantity=1, unit_price=0)]}
    )
    state = SAGA.react(None, free).state
    state = SAGA.react(state, RECEIVED).state
    decision = SAGA.react(state, RESTOCKED)
    assert decision.state.status is ReturnStatus.closing
    assert [c.type_name for c in decision.commands] == [CLOSE]


def test_the_refund_is_the_received_lines_at_the_prices_paid_never_more_than_asked() -> None:
    over = ReturnReceived(
        return_id=R,
        order_id=ORD,
        items=[
            ReservedItem(product_id="p1", quantity=5),
            ReservedItem(product_id="p9", quantity=1),
        ],
    )
    state = run(over, RESTOCKED)
    refund = SAGA.react(run(over), RESTOCKED).commands[0]
    assert state.received == (("p1", 2),)
    assert refund.model_dump()["amount"] == 1000


def test_a_partial_return_refunds_only_its_received_lines() -> None:
    state = run(RECEIVED)
    decision = SAGA.react(state, RESTOCKED)
    assert decision.commands[0].model_dump()["amount"] == 500


def test_the_receipt_timer_is_the_configured_window_and_expiry_says_why() -> None:
    start = SAGA.react(None, REQUESTED)
    assert start.armed is not None
    assert start.armed.after_seconds == 600
    assert run("fire").reason == "not received in time"
    assert run("fire", "fire", "fire").reason == "return.expire not answered after 2 attempts"


def test_a_stale_deadline_is_ignored() -> None:
    state = run(RECEIVED)
    decision = SAGA.react(state, DeadlineFired("return.receipt", 1))
    assert decision.ignored
    assert decision.state == state


def test_a_reply_for_another_return_is_ignored() -> None:
    state = run(RECEIVED)
    decision = SAGA.react(state, RESTOCKED.model_copy(update={"return_id": "other"}))
    assert decision.ignored
    assert decision.state.status is ReturnStatus.restocking


def test_the_state_codec_round_trips_every_given_state() -> None:
    for inputs in GIVEN.values():
        state = run(*inputs)
        assert ReturnState.from_json(state.to_json()) == state


def test_an_action_leaving_its_declared_targets_is_refused() -> None:
    rule = next(r for r in RULES if r.source is ReturnStatus.closing and r.input == "return.closed")
    miswired = ReturnRule(rule.source, rule.input, rule.guard, rule.action, (ReturnStatus.expired,))

    class Miswired(ReturnSaga):
        rules = tuple(miswired if r is rule else r for r in RULES)

    with pytest.raises(UndeclaredTransition):
        Miswired(CONFIG).react(run(RECEIVED, RESTOCKED, REFUNDED), CLOSED)


def test_commands_are_named_by_saga_command_and_attempt() -> None:
    first = SAGA.react(run(), RECEIVED)
    again = SAGA.react(first.state, fire(first.state))
    ids = SAGA.command_ids(first.state, first.commands) + SAGA.command_ids(
        again.state, again.commands
    )
    assert len(set(ids)) == 2
    assert SAGA.unanswered(again.state, "inventory.restocked", ids[0]) is None
    assert SAGA.unanswered(again.state, "inventory.restocked", "forged") is not None
    assert SAGA.unanswered(again.state, "return.received", None) is None


def test_requested_twice_is_ignored() -> None:
    state = run()
    decision = SAGA.react(state, REQUESTED)
    assert decision.ignored
    assert decision.state == state
    assert decision.commands == ()
