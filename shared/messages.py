"""The message catalogue: one pydantic model per message type.

These models are the single source of truth for every message body: the
transports validate against them, the services and the saga build them, and the
AsyncAPI document is generated from them.  Bodies are camelCase JSON; amounts are
integers in minor units.

Commands are imperative (``inventory.reserve``) and travel on the ``commands``
exchange with their name as the routing key; events are past tense
(``inventory.reserved``) and travel on their owning service's exchange: ``orders``,
``products`` (the inventory service's ``product.*`` and ``inventory.*`` events),
``payments`` and ``users``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Kind = Literal["command", "event"]
COMMANDS_EXCHANGE = "commands"
DEAD_LETTER_EXCHANGE = "dlx"


class Message(BaseModel):
    """Base of every message body.

    Not :class:`shared.web.schemas.CamelModel`, though it is camelCase too: a message
    is a value (frozen, so a handler cannot change what it was handed and the
    runtime can keep it as history), refuses unknown fields like a request body,
    and is dumped without its empty fields, where an HTTP answer shows them as null.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    type_name: ClassVar[str]
    kind: ClassVar[Kind]
    exchange: ClassVar[str]

    def dump(self) -> dict[str, object]:
        """The JSON-ready camelCase body."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Command(Message):
    kind: ClassVar[Kind] = "command"
    exchange: ClassVar[str] = COMMANDS_EXCHANGE


class Event(Message):
    kind: ClassVar[Kind] = "event"
    publisher: ClassVar[str]
    """The service that publishes it (the inventory's exchange is ``products``)."""


Quantity = Field(gt=0, le=1_000_000)
Amount = Field(ge=0)
Currency = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")


class OrderItem(Message):
    product_id: str = Field(min_length=1)
    quantity: int = Quantity
    unit_price: int = Amount


class ReservedItem(Message):
    product_id: str = Field(min_length=1)
    quantity: int = Quantity


class PricedItem(ReservedItem):
    """A reserved item at the catalogue's price when it was reserved.

    The prices are optional only so that reservations recorded before they were
    reported still decode; the saga refuses to charge for an item without one."""

    unit_price: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")


class Shortage(Message):
    product_id: str
    requested: int
    available: int
    name: str | None = None
    """The product's name, for people reading the reason (absent when it is unknown)."""


# --- orders ------------------------------------------------------------------


class OrderEvent(Event):
    exchange: ClassVar[str] = "orders"
    publisher: ClassVar[str] = "orders"


class OrderCreated(OrderEvent):
    type_name: ClassVar[str] = "order.created"
    order_id: str
    user_id: str
    items: list[OrderItem] = Field(min_length=1)
    total_amount: int = Amount
    currency: str = Currency
    payment_method_id: str


class OrderCancelRequested(OrderEvent):
    type_name: ClassVar[str] = "order.cancel_requested"
    order_id: str
    requested_by: str


class OrderConfirmed(OrderEvent):
    type_name: ClassVar[str] = "order.confirmed"
    order_id: str


class OrderCancelled(OrderEvent):
    type_name: ClassVar[str] = "order.cancelled"
    order_id: str
    reason: str | None = None


class OrderShipped(OrderEvent):
    """A warehouse sent the order: from now on it is returned, not cancelled."""

    type_name: ClassVar[str] = "order.shipped"
    order_id: str
    carrier: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(min_length=1, max_length=100)
    shipped_at: datetime


class OrderDelivered(OrderEvent):
    """The carrier handed the order over."""

    type_name: ClassVar[str] = "order.delivered"
    order_id: str
    delivered_at: datetime


class ConfirmOrder(Command):
    type_name: ClassVar[str] = "order.confirm"
    order_id: str


class CancelOrder(Command):
    type_name: ClassVar[str] = "order.cancel"
    order_id: str
    reason: str | None = None


# --- returns (orders records them; the return saga carries them out) ---------


class ReturnLine(Message):
    """A line of a return: a product of the order, how many, at the price paid."""

    product_id: str = Field(min_length=1)
    quantity: int = Quantity
    unit_price: int = Amount


class ReturnRequested(OrderEvent):
    """A customer asked to return lines of a delivered order: starts a return saga."""

    type_name: ClassVar[str] = "return.requested"
    return_id: str
    order_id: str
    user_id: str
    items: list[ReturnLine] = Field(min_length=1)
    currency: str = Currency
    payment_method_id: str


class ReturnReceived(OrderEvent):
    """The warehouse received the goods of a return, in these quantities."""

    type_name: ClassVar[str] = "return.received"
    return_id: str
    order_id: str
    items: list[ReservedItem] = Field(min_length=1)


class ReturnExpired(OrderEvent):
    type_name: ClassVar[str] = "return.expired"
    return_id: str
    order_id: str


class ReturnClosed(OrderEvent):
    """The return is refunded and closed: ``refunded_amount`` went back to the card."""

    type_name: ClassVar[str] = "return.closed"
    return_id: str
    order_id: str
    refunded_amount: int = Amount


class ExpireReturn(Command):
    """Expire a return whose goods never arrived (answered ``return.received`` when they did)."""

    type_name: ClassVar[str] = "return.expire"
    return_id: str
    order_id: str


class CloseReturn(Command):
    type_name: ClassVar[str] = "return.close"
    return_id: str
    order_id: str
    refunded_amount: int = Amount


# --- inventory ---------------------------------------------------------------


class InventoryEvent(Event):
    exchange: ClassVar[str] = "products"
    publisher: ClassVar[str] = "inventory"


class ReserveInventory(Command):
    type_name: ClassVar[str] = "inventory.reserve"
    order_id: str
    items: list[ReservedItem] = Field(min_length=1)


class ReleaseInventory(Command):
    type_name: ClassVar[str] = "inventory.release"
    order_id: str


class InventoryReserved(InventoryEvent):
    type_name: ClassVar[str] = "inventory.reserved"
    order_id: str
    items: list[PricedItem]
    """What was reserved, each at the catalogue's unit price and currency then."""


class InventoryInsufficient(InventoryEvent):
    type_name: ClassVar[str] = "inventory.insufficient"
    order_id: str
    shortages: list[Shortage]


class InventoryReleased(InventoryEvent):
    type_name: ClassVar[str] = "inventory.released"
    order_id: str
    items: list[ReservedItem] = Field(default_factory=list)


class RestockReturn(Command):
    """Put the received goods of a return back into stock (once per return)."""

    type_name: ClassVar[str] = "inventory.restock"
    return_id: str
    order_id: str
    items: list[ReservedItem] = Field(min_length=1)


class InventoryRestocked(InventoryEvent):
    type_name: ClassVar[str] = "inventory.restocked"
    return_id: str
    order_id: str
    items: list[ReservedItem] = Field(default_factory=list)


class ProductEvent(InventoryEvent):
    """A product as the catalogue shows it after the change."""

    product_id: str
    sku: str
    name: str
    description: str | None = None
    price: int = Amount
    currency: str = Currency
    available: int | None = Field(default=None, ge=0)
    """Units not held for orders at that moment.  Reservations move it without an
    event of their own: read ``GET /products/{id}`` for the live figure."""


class ProductCreated(ProductEvent):
    type_name: ClassVar[str] = "product.created"


class ProductUpdated(ProductEvent):
    """Its name, description or price was changed, or its stock on hand was set."""

    type_name: ClassVar[str] = "product.updated"


# --- payments ----------------------------------------------------------------


class PaymentEvent(Event):
    exchange: ClassVar[str] = "payments"
    publisher: ClassVar[str] = "payments"


class PaymentCommand(Command):
    """A charge or a refund: the same body, the amount the saga charged."""

    order_id: str
    user_id: str
    amount: int = Amount
    currency: str = Currency
    payment_method_id: str


class ChargePayment(PaymentCommand):
    type_name: ClassVar[str] = "payment.charge"


class RefundPayment(PaymentCommand):
    type_name: ClassVar[str] = "payment.refund"


class PaymentCompleted(PaymentEvent):
    type_name: ClassVar[str] = "payment.completed"
    order_id: str
    payment_id: str
    amount: int = Amount


class PaymentRefusal(PaymentEvent):
    """A charge or a refund the gateway refused, and why."""

    order_id: str
    payment_id: str | None = None
    amount: int = Amount
    reason: str
    code: str


class PaymentFailed(PaymentRefusal):
    type_name: ClassVar[str] = "payment.failed"


class PaymentRefunded(PaymentEvent):
    type_name: ClassVar[str] = "payment.refunded"
    order_id: str
    payment_id: str | None = None
    amount: int = Amount


class PaymentRefundFailed(PaymentRefusal):
    type_name: ClassVar[str] = "payment.refund_failed"


class RefundReturn(Command):
    """Refund a return's amount on the order's capture (never more than it left)."""

    type_name: ClassVar[str] = "payment.refund_return"
    return_id: str
    order_id: str
    user_id: str
    amount: int = Amount
    currency: str = Currency
    payment_method_id: str


class ReturnRefunded(PaymentEvent):
    type_name: ClassVar[str] = "payment.return_refunded"
    return_id: str
    order_id: str
    payment_id: str | None = None
    amount: int = Amount


class ReturnRefundFailed(PaymentRefusal):
    type_name: ClassVar[str] = "payment.return_refund_failed"
    return_id: str


# --- users -------------------------------------------------------------------


class UserCreated(Event):
    exchange: ClassVar[str] = "users"
    publisher: ClassVar[str] = "users"
    type_name: ClassVar[str] = "user.created"
    user_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    """Absent when the user gave no name (registering a name is optional)."""


CATALOGUE: dict[str, type[Message]] = {
    model.type_name: model
    for model in (
        OrderCreated,
        OrderCancelRequested,
        OrderConfirmed,
        OrderCancelled,
        OrderShipped,
        OrderDelivered,
        ConfirmOrder,
        CancelOrder,
        ReserveInventory,
        ReleaseInventory,
        InventoryReserved,
        InventoryInsufficient,
        InventoryReleased,
        ProductCreated,
        ProductUpdated,
        ChargePayment,
        RefundPayment,
        PaymentCompleted,
        PaymentFailed,
        PaymentRefunded,
        PaymentRefundFailed,
        UserCreated,
        ReturnRequested,
        ReturnReceived,
        ReturnExpired,
        ReturnClosed,
        ExpireReturn,
        CloseReturn,
        RestockReturn,
        InventoryRestocked,
        RefundReturn,
        ReturnRefunded,
        ReturnRefundFailed,
    )
}
"""Every message type by its routing key."""

EVENT_EXCHANGES = ("orders", "products", "payments", "users")

PUBLISHERS: dict[str, frozenset[str]] = {
    "order.created": frozenset({"orders"}),
    "order.cancel_requested": frozenset({"orders"}),
    "order.confirmed": frozenset({"orders"}),
    "order.cancelled": frozenset({"orders"}),
    "order.shipped": frozenset({"orders"}),
    "order.delivered": frozenset({"orders"}),
    "order.confirm": frozenset({"saga"}),
    "order.cancel": frozenset({"saga"}),
    "inventory.reserve": frozenset({"saga"}),
    "inventory.release": frozenset({"saga"}),
    "inventory.reserved": frozenset({"inventory"}),
    "inventory.insufficient": frozenset({"inventory"}),
    "inventory.released": frozenset({"inventory"}),
    "product.created": frozenset({"inventory"}),
    "product.updated": frozenset({"inventory"}),
    "payment.charge": frozenset({"saga"}),
    "payment.refund": frozenset({"saga"}),
    "payment.completed": frozenset({"payments"}),
    "payment.failed": frozenset({"payments"}),
    "payment.refunded": frozenset({"payments"}),
    "payment.refund_failed": frozenset({"payments"}),
    "user.created": frozenset({"users"}),
    "return.requested": frozenset({"orders"}),
    "return.received": frozenset({"orders"}),
    "return.expired": frozenset({"orders"}),
    "return.closed": frozenset({"orders"}),
    "return.expire": frozenset({"saga"}),
    "return.close": frozenset({"saga"}),
    "inventory.restock": frozenset({"saga"}),
    "inventory.restocked": frozenset({"inventory"}),
    "payment.refund_return": frozenset({"saga"}),
    "payment.return_refunded": frozenset({"payments"}),
    "payment.return_refund_failed": frozenset({"payments"}),
}
"""Who may publish each message type: the components whose broker users (see
``shared.messaging.topology.BROKER_USERS``) a consumer accepts it from.  The AMQP ``user_id`` of a delivery names
its publisher, since RabbitMQ refuses a publish whose ``user_id`` is not the
connection's user (see ``shared.messaging.transport.refuse_unless_allowed``)."""


class UnknownMessageType(LookupError):
    """A message whose ``type`` is not in the catalogue."""


def model_for(type_name: str) -> type[Message]:
    try:
        return CATALOGUE[type_name]
    except KeyError:
        raise UnknownMessageType(f"unknown message type {type_name!r}") from None
