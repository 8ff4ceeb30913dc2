"""The guards of the transition table: pure questions about the saga and the input.

Rows for one (status, input) are tried in the table's order; the first whose
guard holds runs its action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from saga.definition.config import SagaConfig
from saga.definition.inputs import Input, input_name
from saga.definition.progress import acknowledged, succeeded, undone
from saga.definition.state import OrderData, SagaState
from saga.definition.steps import PAYMENT, STEP_BY_REPLY
from shared.messages import InventoryReserved

Guard: TypeAlias = Callable[[SagaState, Input, SagaConfig], bool]


def always(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """The row applies whenever its status and input match."""
    return True


otherwise = always
"""The last row of a group: none of the guards above it held."""


def prices_match(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """The reservation reports the order's prices (see :func:`price_mismatch`)."""
    assert isinstance(input, InventoryReserved)
    return price_mismatch(saga.order, input) is None


def step_retries_left(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """The forward command timed out fewer times than it may be resent."""
    return saga.failures < config.step_retries


def undo_retries_left(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """This timeout or refusal of the compensation still leaves it a retry."""
    return saga.failures + 1 <= config.compensation_retries


def backing_off(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """A refused compensation's retry is already scheduled."""
    return saga.backing_off


def proves_the_step_undone(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """This acknowledgement shows every effect of its step undone (see ``progress.PROOF_OF_UNDO``)."""
    return undone(STEP_BY_REPLY[input_name(input)], acknowledged(saga, input))


def may_predate_capture(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """This refund's answer falls short of the capture but may answer a refund
    carried out before it (see ``StepRecord``): one sent now surely comes after."""
    return not acknowledged(saga, input).steps.payment.undone


def already_refunded(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """A capture reported after the saga ended that an earlier refund already paid back."""
    return undone(PAYMENT, succeeded(saga, input))


def not_shipped(saga: SagaState, input: Input, config: SagaConfig) -> bool:
    """``order.shipped`` has not reached the saga: the goods are still in the warehouse
    (once they left, a customer's cancel is a return, and no row takes it)."""
    return saga.shipment is None


def price_mismatch(order: OrderData, reserved: InventoryReserved) -> str | None:
    """Why the prices the reservation reports do not back the order, or None.

    Every order line must carry its product's catalogue unit price and currency
    as the reservation reports them, and the total must be what they add up to:
    the saga charges the order's total, so a price set by the caller (a stale
    client, a script) is refused here whoever placed the order."""
    catalogue = {item.product_id: item for item in reserved.items}
    problems: dict[str, str] = {}
    for line in order.items:
        item = catalogue.get(line.product_id)
        if item is None or item.unit_price is None or item.currency is None:
            problems[line.product_id] = f"{line.product_id} was reserved without a catalogue price"
        elif item.currency != order.currency:
            problems[line.product_id] = (
                f"{line.product_id} is priced in {item.currency}, the order in {order.currency}"
            )
        elif item.unit_price != line.unit_price:
            problems[line.product_id] = (
                f"{line.product_id} costs {item.unit_price} {item.currency} in the catalogue, "
                f"the order says {line.unit_price}"
            )
    if not problems:
        priced = sum(
            line.quantity * (catalogue[line.product_id].unit_price or 0) for line in order.items
        )
        if priced != order.total_amount:
            problems["total"] = f"the total {order.total_amount} is not the catalogue's {priced}"
    return "price mismatch: " + "; ".join(problems.values()) if problems else None
