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


def test_steps_match_as_a_subsequence_and_compensating_matches_every_undo_state() -> None:
    sent = ["inventory.reserve", "payment.charge", "payment.charge", "order.confirm"]
    assert is_subsequence(["inventory.reserve", "order.confirm"], sent, str.__eq__)
    assert not is_subsequence(["order.confirm", "payment.charge"], sent, str.__eq__)
    assert state_matches("compensating", "refunding_payment")
    assert state_matches("terminal", "failed")
    assert not state_matches("completed", "confirming_order")
