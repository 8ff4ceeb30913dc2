"""The order saga against simulated participants under every interleaving hypothesis finds.

No broker and no database: an in-memory inventory, payments ledger and orders
record answer the saga's commands; a "network" holds every message in flight.
Hypothesis picks which message is delivered next (so anything can be late or out
of order), drops a few (so deadlines fire), fires deadlines early, and throws in
customer cancels and operator retries or aborts.  Once nothing is left to
happen, the invariants of the order saga must hold: every order ends confirmed
(or shipped) with its stock and money taken once, or cancelled with nothing held,
or failed with ops told why.  A warehouse may ship a confirmed order no cancel was
accepted for, and a customer's cancel is refused once it shipped, as the orders
service decides; ``order.shipped`` then races the saga's own undo.

A redelivered message stops at its receiver's inbox (the runtime's and every
participant's; their own tests prove it), so each message here is handled once.
What the saga does see repeated are answers to resent commands, and those come
from timeouts and operator retries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from saga.definition import (
    TERMINAL,
    UNDOING,
    DeadlineFired,
    Input,
    OperatorAbort,
    OperatorRetry,
    OrderSaga,
    RecordedDecision,
    SagaConfig,
    SagaState,
    SagaStatus,
    input_from_json,
    input_to_json,
    replay,
)
from shared import messages

ORDER = "ord-1"
CONFIG = SagaConfig(step_retries=2, compensation_retries=3)
SAGA = OrderSaga(CONFIG)
MAX_STEPS = 1_000
SHIPPED = messages.OrderShipped(
    order_id=ORDER,
    carrier="DHL",
    tracking_number="JD0142",
    shipped_at=datetime(2026, 12, 6, tzinfo=UTC),
)
EXAMPLES = int(os.environ.get("OMS_PROPERTY_EXAMPLES", "300"))
"""Scenarios the suite explores (each outcome, reopening included, shows among
them: see ``--hypothesis-show-statistics``); ``OMS_PROPERTY_EXAMPLES=5000`` searches
further when the saga's definition changes."""


# --- participants -----------------------------------------------------------------


PRICES = {"p-1": 250, "p-2": 1000}
"""The simulated catalogue, in EUR: the orders are placed at these prices."""


def priced(items: Iterable[messages.ReservedItem]) -> list[messages.PricedItem]:
    """``items`` at the catalogue's prices, as the inventory reports a reservation."""
    return [
        messages.PricedItem(
            product_id=i.product_id,
            quantity=i.quantity,
            unit_price=PRICES[i.product_id],
            currency="EUR",
        )
        for i in items
    ]


@dataclass
class Inventory:
    """Stock with reservations per order, reserve and release idempotent.

    With ``tombstones`` a release is remembered and refuses a later reserve;
    without, a reserve that overtakes its release takes stock again, and only the
    saga's handling of the late reply gives it back.
    """

    stock: dict[str, int]
    tombstones: bool
    reservations: dict[str, tuple[messages.ReservedItem, ...]] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    reserves_applied: int = 0

    def handle(self, command: messages.Command) -> messages.Event:
        if isinstance(command, messages.ReserveInventory):
            return self.reserve(command)
        assert isinstance(command, messages.ReleaseInventory)
        held = self.reservations.pop(command.order_id, ())
        for item in held:
            self.stock[item.product_id] += item.quantity
        if self.tombstones:
            self.released.add(command.order_id)
        return messages.InventoryReleased(order_id=command.order_id, items=list(held))

    def reserve(self, command: messages.ReserveInventory) -> messages.Event:
        if command.order_id in self.reservations:
            return messages.InventoryReserved(
                order_id=command.order_id, items=priced(self.reservations[command.order_id])
            )
        shortages = [
            messages.Shortage(
                product_id=item.product_id,
                requested=item.quantity,
                available=self.stock[item.product_id],
            )
            for item in command.items
            if command.order_id in self.released or self.stock[item.product_id] < item.quantity
        ]
        if shortages:
            return messages.InventoryInsufficient(order_id=command.order_id, shortages=shortages)
        for item in command.items:
            self.stock[item.product_id] -= item.quantity
            assert self.stock[item.product_id] >= 0, "stock went negative"
        self.reservations[command.order_id] = tuple(command.items)
        self.reserves_applied += 1
        return messages.InventoryReserved(order_id=command.order_id, items=priced(command.items))


def refused(command: messages.ChargePayment, reason: str, code: str) -> messages.PaymentFailed:
    """Payments' refusal of ``command``, saying why."""
    return messages.PaymentFailed(
        order_id=command.order_id, amount=command.amount, reason=reason, code=code
    )


@dataclass
class Payments:
    """A ledger for one order: charges and refunds idempotent, refunds return what was captured.

    With ``tombstones`` a refund closes the order, so a charge arriving after it
    is refused; without, such a charge takes the money and only the saga's
    handling of the late reply gives it back.
    """

    declines_charges: bool
    declines_refunds: bool
    tombstones: bool
    captured: int = 0
    refunded: int = 0
    captures: int = 0
    charge: messages.Event | None = None
    closed: bool = False
    refund_declines: int = 0

    def handle(self, command: messages.Command) -> messages.Event:
        if isinstance(command, messages.ChargePayment):
            if self.charge is None:
                self.charge = self.first_charge(command)
            return self.charge
        assert isinstance(command, messages.RefundPayment)
        refundable = self.captured - self.refunded
        if refundable > 0 and self.declines_refunds:
            self.refund_declines += 1
            return messages.PaymentRefundFailed(
                order_id=command.order_id,
                payment_id="pay-1",
                amount=refundable,
                reason="refund declined by the gateway",
                code="refund_declined",
            )
        self.refunded += refundable
        self.closed = self.tombstones
        # Like the payments service: the answer is the total refunded so far, so a
        # repeated refund is answered like the first one.
        return messages.PaymentRefunded(
            order_id=command.order_id, payment_id="pay-1", amount=self.refunded
        )

    def first_charge(self, command: messages.ChargePayment) -> messages.Event:
        if self.closed:
            return refused(command, "order already refunded", "order_closed")
        if self.declines_charges:
            return refused(command, "card declined", "card_declined")
        self.captured += command.amount
        self.captures += 1
        return messages.PaymentCompleted(
            order_id=command.order_id, payment_id="pay-1", amount=command.amount
        )


@dataclass
class Orders:
    """The order's own record: a cancelled order stays cancelled, a shipped one stays
    shipped when confirmed again (the saga's cancel still cancels it)."""

    status: Literal["pending", "confirmed", "shipped", "cancelled"] = "pending"
    cancel_requested: bool = False

    def handle(self, command: messages.Command) -> messages.Event:
        if isinstance(command, messages.ConfirmOrder):
            if self.status == "cancelled":
                return messages.OrderCancelled(
                    order_id=command.order_id, reason="already cancelled"
                )
            if self.status == "pending":
                self.status = "confirmed"
            return messages.OrderConfirmed(order_id=command.order_id)
        assert isinstance(command, messages.CancelOrder)
        self.status = "cancelled"
        return messages.OrderCancelled(order_id=command.order_id, reason=command.reason)


# --- the world ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    quantities: tuple[int, int]
    stock: tuple[int, int]
    declines_charges: bool
    declines_refunds: bool
    tombstones: bool
    """Whether participants refuse a step that arrives after its compensation."""
    faults: int
    """Messages dropped plus deadlines fired while an answer is still on its way."""
    cancels: int
    operator_retries: int
    operator_aborts: int
    shipments: int
    """Whether a warehouse tries to ship the order (once it is confirmed)."""
    ops_fix_failed: bool
    """Whether ops repair the gateway and retry a failed saga."""


@dataclass
class World:
    scenario: Scenario
    inventory: Inventory
    payments: Payments
    orders: Orders
    initial_stock: dict[str, int]
    created: messages.OrderCreated
    network: list[tuple[str, messages.Message]] = field(default_factory=list)
    stored: dict[str, object] | None = None
    """The saga row, as the runtime would store it: JSON."""
    inputs: list[dict[str, object]] = field(default_factory=list)
    recorded: list[RecordedDecision] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    """What happened, in order: shown by hypothesis for a failing example."""
    faults: int = 0
    cancels: int = 0
    retries: int = 0
    aborts: int = 0
    shipments: int = 0

    @classmethod
    def build(cls, scenario: Scenario) -> World:
        stock = {"p-1": scenario.stock[0], "p-2": scenario.stock[1]}
        items = [
            messages.OrderItem(product_id=p, quantity=q, unit_price=PRICES[p])
            for p, q in zip(("p-1", "p-2"), scenario.quantities, strict=True)
        ]
        created = messages.OrderCreated(
            order_id=ORDER,
            user_id="user-1",
            items=items,
            total_amount=sum(i.quantity * i.unit_price for i in items),
            currency="EUR",
            payment_method_id="pm_test",
        )
        return cls(
            scenario=scenario,
            inventory=Inventory(dict(stock), scenario.tombstones),
            payments=Payments(
                scenario.declines_charges, scenario.declines_refunds, scenario.tombstones
            ),
            orders=Orders(),
            initial_stock=dict(stock),
            created=created,
            faults=scenario.faults,
            cancels=scenario.cancels,
            retries=scenario.operator_retries,
            aborts=scenario.operator_aborts,
            shipments=scenario.shipments,
        )

    @property
    def state(self) -> SagaState:
        assert self.stored is not None
        return SagaState.from_json(self.stored)

    def to_saga(self, input: Input) -> None:
        """What the runtime does per input: load, react, store, record, publish."""
        state = None if self.stored is None else self.state
        decision = SAGA.react(state, input)
        self.trace.append(
            f"saga <- {input_to_json(input)} => {decision.state.status.value}"
            f" {[c.type_name for c in decision.commands]}"
        )
        self.stored = decision.state.to_json()
        self.inputs.append(input_to_json(input))
        self.recorded.append(RecordedDecision.of(decision))
        for command in decision.commands:
            self.network.append((command.type_name.split(".")[0], command))

    def to_participant(self, service: str, message: messages.Message) -> None:
        assert isinstance(message, messages.Command)
        participant: dict[str, Inventory | Payments | Orders] = {
            "inventory": self.inventory,
            "payment": self.payments,
            "order": self.orders,
        }
        reply = participant[service].handle(message)
        self.trace.append(f"{service} <- {message.type_name} => {reply.type_name} {reply.dump()}")
        self.network.append(("saga", reply))

    def droppable(self, index: int) -> bool:
        """Whether losing this message is a fault the saga must survive.

        A command can always be lost (the participant never handles it).  A reply
        reports what the participant committed; losing one that reported an
        effect is survivable only when participants keep tombstones, since the
        saga cannot undo an effect it never hears about that happened after its
        compensation.  (With a transactional outbox such replies are not lost.)
        """
        destination, _ = self.network[index]
        return destination != "saga" or self.scenario.tombstones

    def deliver(self, index: int) -> None:
        destination, message = self.network.pop(index)
        if destination == "saga":
            self.to_saga(message)
        else:
            self.to_participant(destination, message)


def rarely(data: st.DataObject, odds: int = 8) -> bool:
    """True about once in ``odds`` draws; shrinks towards False."""
    return data.draw(st.integers(0, odds - 1)) == odds - 1


def interfere(world: World, data: st.DataObject, *, settled: bool) -> bool:
    """Maybe a customer cancel or an operator action happens now; True if one did."""
    possible: list[str] = []
    if world.cancels and world.orders.status != "shipped":  # else refused: a return
        possible.append("cancel")
    if world.shipments and world.orders.status == "confirmed" and not world.orders.cancel_requested:
        possible.append("ship")
    if world.retries:
        possible.append("retry")
    if world.aborts:
        possible.append("abort")
    # While the saga is busy these are rare; once it settled, each is a real option.
    if not possible or not (data.draw(st.booleans()) if settled else rarely(data)):
        return False
    what = data.draw(st.sampled_from(possible))
    if what == "cancel":
        world.cancels -= 1
        world.orders.cancel_requested = True
        world.network.append(
            ("saga", messages.OrderCancelRequested(order_id=ORDER, requested_by="user-1"))
        )
    elif what == "ship":
        world.shipments -= 1
        world.orders.status = "shipped"
        world.trace.append("warehouse ships the order")
        world.network.append(("saga", SHIPPED))
    elif what == "retry":
        world.retries -= 1
        world.to_saga(OperatorRetry(actor="ops", reason="try again"))
    else:
        world.aborts -= 1
        world.to_saga(OperatorAbort(actor="ops", reason="give up"))
    return True


def early_deadline(world: World, state: SagaState, data: st.DataObject) -> bool:
    """Whether a deadline passes while an answer is still on its way.

    Forward steps time out often (a slow participant is an ordinary failure path
    that ends in compensation); a compensation timing out counts as a fault, so
    that only a declined refund can exhaust its retries.
    """
    if state.status not in UNDOING:
        return rarely(data, 3)
    if world.faults and rarely(data):
        world.faults -= 1
        return True
    return False


def fire_deadline(world: World) -> None:
    deadline = world.state.deadline
    assert deadline is not None
    world.to_saga(DeadlineFired(deadline.command, deadline.attempt))


def run_to_quiescence(world: World, data: st.DataObject) -> None:
    """Let hypothesis schedule everything until nothing is left to happen."""
    world.to_saga(world.created)
    for _ in range(MAX_STEPS):
        state = world.state
        settled = not world.network and state.deadline is None
        if interfere(world, data, settled=settled):
            continue
        if settled:
            if (
                state.status is SagaStatus.failed
                and world.scenario.ops_fix_failed
                and world.payments.declines_refunds
            ):
                world.payments.declines_refunds = False
                world.to_saga(OperatorRetry(actor="ops", reason="gateway repaired"))
                continue
            return
        if not world.network:
            fire_deadline(world)  # nothing in flight: time passes
            continue
        if state.deadline is not None and early_deadline(world, state, data):
            fire_deadline(world)  # the answer is only slow, but the deadline passes first
            continue
        index = data.draw(st.integers(0, len(world.network) - 1))
        if world.faults and world.droppable(index) and rarely(data):
            world.faults -= 1
            dropped = world.network.pop(index)  # a command never handled, or a reply lost
            world.trace.append(f"dropped {dropped[1].type_name} to {dropped[0]}")
            continue
        world.deliver(index)
    raise AssertionError(f"the saga did not settle in {MAX_STEPS} steps")


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    quantities = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # Mostly enough stock; one product short now and then.
    spare = (draw(st.integers(-1, 3)), draw(st.integers(-1, 3)))
    return Scenario(
        quantities=quantities,
        stock=(max(quantities[0] + spare[0], 0), max(quantities[1] + spare[1], 0)),
        declines_charges=draw(st.sampled_from([False, False, False, True])),
        declines_refunds=draw(st.booleans()),
        tombstones=draw(st.booleans()),
        faults=draw(st.integers(0, CONFIG.compensation_retries)),
        cancels=draw(st.integers(0, 2)),
        operator_retries=draw(st.integers(0, 2)),
        operator_aborts=draw(st.integers(0, 1)),
        shipments=draw(st.integers(0, 1)),
        ops_fix_failed=draw(st.booleans()),
    )


# Derandomized, so CI explores the same examples on every run; a failure found
# here reproduces as is.  To search further, run with a larger max_examples and
# derandomize=False (and --hypothesis-seed=N to vary the search).
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenario=scenarios(), data=st.data())
def test_the_saga_settles_with_nothing_lost_or_taken_twice(
    scenario: Scenario, data: st.DataObject
) -> None:
    world = World.build(scenario)
    try:
        run_to_quiescence(world, data)
    finally:
        note("\n".join(world.trace))
    state = world.state
    statuses = [r.status for r in world.recorded]
    reopened = SagaStatus.cancelled.value in statuses[:-1]
    event(f"ended {state.status.value}" + (" after reopening" if reopened else ""))
    inventory, payments, orders = world.inventory, world.payments, world.orders
    ordered = dict(zip(("p-1", "p-2"), scenario.quantities, strict=True))
    assert state.status in TERMINAL
    assert all(count >= 0 for count in inventory.stock.values())

    if state.status is SagaStatus.completed:
        assert orders.status in ("confirmed", "shipped")
        assert inventory.reserves_applied == 1
        assert inventory.stock == {p: world.initial_stock[p] - q for p, q in ordered.items()}
        assert payments.captures == 1
        assert payments.captured == world.created.total_amount
        assert payments.refunded == 0
    elif state.status is SagaStatus.cancelled:
        assert orders.status == "cancelled"
        assert ORDER not in inventory.reservations
        assert inventory.stock == world.initial_stock
        assert payments.captured - payments.refunded == 0
    else:
        # Failed only when the gateway kept declining a refund of money really taken.
        assert payments.declines_refunds
        assert payments.refund_declines > 0
        assert payments.captured - payments.refunded > 0
        assert state.current == messages.RefundPayment.type_name

    # What the runtime stored replays through the definition without divergence.
    report = replay(SAGA, [input_from_json(i) for i in world.inputs], world.recorded)
    assert report.ok, report.divergences
