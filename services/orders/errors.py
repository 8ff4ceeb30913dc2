"""What the orders' use cases refuse, as domain errors (they know nothing of HTTP
or messaging; :data:`services.orders.api.PROBLEMS` and :mod:`services.orders.handlers`
turn them into problem answers and dead letters)::

    OrderError
    ├── OrderNotFound           no such order, or another user's (which looks absent)
    ├── OrdersNotFound          another user's orders (which look absent too)
    ├── PlacedForAnotherUser    a customer placing an order in someone else's name
    ├── KeyReused               an idempotency key sent again with another order
    ├── AlreadyCancelled        a cancellation asked for a cancelled order
    ├── ShippedAlready          a cancellation asked for a shipped order (return it instead)
    ├── CannotShip              a shipment the order's status refuses (with why)
    ├── CannotDeliver           a delivery for an order that was not shipped
    ├── ReturnNotFound          no such return, or another user's
    ├── NotReturnable           an order not delivered, or delivered too long ago
    ├── ReturnExceedsOrder      lines not of the order, or more than is left to return
    ├── NotAwaitingReceipt      a receipt for a return received, refunded or expired
    └── FulfilmentOnly          a receipt posted by someone not in the warehouse (or ops)
"""

from __future__ import annotations


class OrderError(Exception):
    """A request or command about orders that cannot be carried out as asked."""


class OrderNotFound(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} does not exist")
        self.order_id = order_id


class OrdersNotFound(OrderError):
    def __init__(self) -> None:
        super().__init__("orders not found")


class PlacedForAnotherUser(OrderError):
    def __init__(self) -> None:
        super().__init__("an order can only be placed for yourself")


class KeyReused(OrderError):
    def __init__(self) -> None:
        super().__init__("this key was used for a different order")


class AlreadyCancelled(OrderError):
    def __init__(self) -> None:
        super().__init__("the order is already cancelled")


class ShippedAlready(OrderError):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"the order was {status} already: a shipped order cannot be cancelled, "
            "start a return instead"
        )


class CannotShip(OrderError):
    def __init__(self, why: str) -> None:
        super().__init__(f"the order cannot be shipped: {why}")


class CannotDeliver(OrderError):
    def __init__(self, why: str) -> None:
        super().__init__(f"the order cannot be marked delivered: {why}")


class ReturnNotFound(OrderError):
    def __init__(self, return_id: str) -> None:
        super().__init__(f"return {return_id!r} does not exist")
        self.return_id = return_id


class NotReturnable(OrderError):
    """The order cannot be returned (why is the message)."""


class ReturnExceedsOrder(OrderError):
    """A line names a product the order lacks, or more than is left to return."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotAwaitingReceipt(OrderError):
    def __init__(self, status: str) -> None:
        super().__init__(f"the return is {status}: it awaits no receipt")
        self.status = status


class FulfilmentOnly(OrderError):
    def __init__(self) -> None:
        super().__init__("only the warehouse (role fulfilment) or ops may record a receipt")
