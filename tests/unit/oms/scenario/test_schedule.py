"""Which scenarios run here and how a saga's history is matched."""

from __future__ import annotations

from oms.scenario.history import is_subsequence
from oms.scenario.loader import load_directory
from oms.scenario.schedule import skip_reason
from oms.scenario.spec import state_matches
from shared.settings import Settings
from tests.support.scenarios import LIBRARY


def test_skips_name_their_reason() -> None:
    files = {f.name: f.scenario for f in load_directory(LIBRARY)}
    settings = Settings()
    assert skip_reason(files["happy-path-web"], settings, None) is None
    assert skip_reason(files["participant-silent-timeout"], settings, None) == (
        "written for OMS_SAGA_STEP_TIMEOUT_SECONDS=3.0; the system runs with 30.0"
    )
    assert "needs restart" in str(
        skip_reason(files["participant-crash-after-commit"], settings, None)
    )


def test_an_expiry_scenario_runs_only_where_returns_expire_as_fast() -> None:
    [expiry] = [
        f.scenario for f in load_directory(LIBRARY) if f.name == "return-expires-unreceived"
    ]
    assert skip_reason(expiry, Settings(), None) == (
        "written for OMS_RETURN_RECEIPT_DAYS (in seconds)=8.0; the system runs with 1209600.0"
    )
    fast = Settings(return_receipt_days=8 / 86_400)
    assert skip_reason(expiry, fast, None) is None
    # What the running saga tells wins over the settings of the shell.
    told = {"return_receipt_timeout_seconds": 60.0}
    assert "runs with 60.0" in str(skip_reason(expiry, fast, None, timing=told))


def test_steps_match_as_a_subsequence_and_compensating_matches_every_undo_state() -> None:
    sent = ["inventory.reserve", "payment.charge", "payment.charge", "order.confirm"]
    assert is_subsequence(["inventory.reserve", "order.confirm"], sent, str.__eq__)
    assert not is_subsequence(["order.confirm", "payment.charge"], sent, str.__eq__)
    assert state_matches("compensating", "refunding_payment")
    assert state_matches("terminal", "failed")
    assert not state_matches("completed", "confirming_order")
