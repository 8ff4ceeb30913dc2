"""A compact order's reason fits its list row, whatever the saga wrote."""

from __future__ import annotations

import json

import pytest

from bff_mobile.schemas import REASON_MAX_BYTES, compact_reason


def test_a_short_reason_is_kept_whole() -> None:
    reason = "payment declined: card declined (card_declined)"

    assert compact_reason(reason) == reason
    assert compact_reason(None) is None


@pytest.mark.parametrize("unit", ["p", "é", "\u6f22", '"', "\x01"], ids=repr)
def test_a_long_reason_is_cut_to_the_byte_budget_and_says_so(unit: str) -> None:
    reason = "insufficient stock: " + unit * 500

    cut = compact_reason(reason)

    assert cut is not None
    assert cut.endswith("…")
    assert reason.startswith(cut[:-1])
    assert len(json.dumps(cut, ensure_ascii=False).encode()) <= REASON_MAX_BYTES
    assert len(json.dumps(cut, ensure_ascii=False).encode()) > REASON_MAX_BYTES - 8
