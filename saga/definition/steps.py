"""The saga's three steps: command, replies and compensation of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from saga.definition.statuses import SagaStatus, StepName
from shared.messages import (
    CancelOrder,
    ChargePayment,
    Command,
    ConfirmOrder,
    Event,
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    OrderCancelled,
    OrderConfirmed,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    RefundPayment,
    ReleaseInventory,
    ReservedItem,
    ReserveInventory,
)

if TYPE_CHECKING:
    from saga.definition.state import SagaState


@dataclass(frozen=True)
class StepSpec:
    name: StepName
    status: SagaStatus
    """The saga's status while this step runs forward."""
    action: type[Command]
    success: type[Event]
    refusal: type[Event] | None
    compensation: type[Command]
    compensated: type[Event]
    always_compensate: bool = False
    """The order must end cancelled even if it was never confirmed."""


STEPS: tuple[StepSpec, ...] = (
    StepSpec(
        name=StepName.inventory,
        status=SagaStatus.reserving_inventory,
        action=ReserveInventory,
        success=InventoryReserved,
        refusal=InventoryInsufficient,
        compensation=ReleaseInventory,
        compensated=InventoryReleased,
    ),
    StepSpec(
        name=StepName.payment,
        status=SagaStatus.charging_payment,
        action=ChargePayment,
        success=PaymentCompleted,
        refusal=PaymentFailed,
        compensation=RefundPayment,
        compensated=PaymentRefunded,
    ),
    StepSpec(
        name=StepName.order,
        status=SagaStatus.confirming_order,
        action=ConfirmOrder,
        success=OrderConfirmed,
        refusal=None,
        compensation=CancelOrder,
        compensated=OrderCancelled,
        always_compensate=True,
    ),
)
"""The forward steps in order; compensation runs them backwards."""

SPEC_BY_COMMAND: dict[str, StepSpec] = {
    command.type_name: spec for spec in STEPS for command in (spec.action, spec.compensation)
}
FORWARD_STATUSES = tuple(spec.status for spec in STEPS)


def next_spec(spec: StepSpec) -> StepSpec | None:
    index = STEPS.index(spec)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


def build_command(state: SagaState, command: str) -> Command:
    order = state.order
    if command == ReserveInventory.type_name:
        return ReserveInventory(
            order_id=state.saga_id,
            items=[ReservedItem(product_id=i.product_id, quantity=i.quantity) for i in order.items],
        )
    if command == ReleaseInventory.type_name:
        return ReleaseInventory(order_id=state.saga_id)
    if command in (ChargePayment.type_name, RefundPayment.type_name):
        # A refund asks for what the saga charged; payments refunds what it actually
        # captured (nothing, if the charge never happened), so this is always safe.
        model = ChargePayment if command == ChargePayment.type_name else RefundPayment
        return model(
            order_id=state.saga_id,
            user_id=order.user_id,
            amount=order.total_amount,
            currency=order.currency,
            payment_method_id=order.payment_method_id,
        )
    if command == ConfirmOrder.type_name:
        return ConfirmOrder(order_id=state.saga_id)
    if command == CancelOrder.type_name:
        return CancelOrder(order_id=state.saga_id, reason=state.failure_reason)
    raise ValueError(f"the order saga does not send {command!r}")
