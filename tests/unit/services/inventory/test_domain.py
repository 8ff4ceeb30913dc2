"""The stock rules: all-or-nothing reservations, shortfalls, and the stock floor."""

from __future__ import annotations

import pytest

from services.inventory.domain import (
    Line,
    Shortfall,
    available,
    check_stock_level,
    combine,
    declined,
    shortfalls,
)
from services.inventory.errors import StockBelowReserved


def test_available_is_on_hand_less_reserved() -> None:
    assert available(10, 3) == 7
    assert available(3, 3) == 0


def test_combine_sums_a_products_lines_in_order_of_first_appearance() -> None:
    lines = [Line("b", 1), Line("a", 2), Line("b", 4), Line("c", 1), Line("a", 1)]
    assert combine(lines) == [Line("b", 5), Line("a", 3), Line("c", 1)]
    assert combine([]) == []


def test_stock_that_covers_every_line_leaves_no_shortfall() -> None:
    wanted = [Line("a", 3), Line("b", 1)]
    assert shortfalls(wanted, {"a": 3, "b": 7}) == []


def test_each_uncovered_line_is_short_with_what_is_left() -> None:
    wanted = [Line("a", 3), Line("b", 1), Line("c", 2)]
    assert shortfalls(wanted, {"a": 2, "b": 1, "c": 0}) == [
        Shortfall("a", requested=3, available=2),
        Shortfall("c", requested=2, available=0),
    ]


def test_an_unknown_product_is_short_with_nothing_available() -> None:
    assert shortfalls([Line("ghost", 1)], {}) == [Shortfall("ghost", 1, 0)]


def test_oversold_stock_is_reported_as_none_available_never_negative() -> None:
    assert shortfalls([Line("a", 1)], {"a": -2}) == [Shortfall("a", 1, 0)]


def test_a_declined_check_reports_every_line_short_with_nothing_left() -> None:
    wanted = [Line("a", 1), Line("b", 5)]
    assert declined(wanted) == [Shortfall("a", 1, 0), Shortfall("b", 5, 0)]


def test_stock_may_be_set_down_to_what_is_reserved() -> None:
    check_stock_level(5, 5)
    check_stock_level(0, 0)


def test_stock_set_below_what_is_reserved_is_refused_naming_both_figures() -> None:
    with pytest.raises(StockBelowReserved) as refused:
        check_stock_level(4, 5)
    assert (refused.value.requested, refused.value.reserved) == (4, 5)
    assert "5 units are reserved" in str(refused.value)
