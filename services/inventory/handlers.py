"""The inventory's command handlers: ``inventory.reserve`` and ``inventory.release``.

Each runs inside the endpoint's unit of work (inbox check, state change and reply
in one transaction).  A reservation is keyed by the order id, so a repeated
command changes nothing and is answered with the first answer:

* reserve, first time: all items reserved (``inventory.reserved``, each item at
  the catalogue's unit price and currency of that moment, which the saga checks
  against the order's) or none
  (``inventory.insufficient`` with the shortages; an unknown product is short
  with ``available: 0``; a ``decline`` fault reports every item short the same way);
* reserve after the order was released: refused with ``inventory.insufficient``
  and an **empty** ``shortages`` list, meaning "this order's reservation is
  closed" — no stock is taken, so a late command cannot leak stock;
* release: gives back what is held and answers ``inventory.released`` with those
  items (empty when nothing was held; a tombstone is left either way).
"""

from __future__ import annotations

from services.inventory import domain
from services.inventory.domain import Line, ReservationStatus
from services.inventory.models import Product, Reservation
from services.inventory.repository import Inventory
from shared.clock import utcnow
from shared.faults import declined
from shared.messages import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    Message,
    PricedItem,
    ReleaseInventory,
    ReservedItem,
    ReserveInventory,
    Shortage,
)
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.persistence.outbox import UnitOfWork


def _item_rows(lines: list[Line], products: dict[str, Product]) -> list[dict[str, object]]:
    """The reservation's items, priced from the catalogue when the product exists."""
    rows: list[dict[str, object]] = []
    for line in lines:
        product = products.get(line.product_id)
        item = PricedItem(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=product.price if product is not None else None,
            currency=product.currency if product is not None else None,
        )
        rows.append(item.dump())
    return rows


def _lines(reservation: Reservation) -> list[Line]:
    return [Line(i["productId"], int(i["quantity"])) for i in reservation.items]


def _unpriced(reservation: Reservation) -> list[ReservedItem]:
    return [ReservedItem(product_id=x.product_id, quantity=x.quantity) for x in _lines(reservation)]


def _answer_again(reservation: Reservation) -> Message:
    """The answer a reserve gets for an order that already has a reservation."""
    order_id = reservation.order_id
    if reservation.status == ReservationStatus.RESERVED:
        return InventoryReserved(
            order_id=order_id, items=[PricedItem.model_validate(i) for i in reservation.items]
        )
    if reservation.status == ReservationStatus.INSUFFICIENT:
        return InventoryInsufficient(
            order_id=order_id,
            shortages=[Shortage.model_validate(s) for s in reservation.shortages],
        )
    return InventoryInsufficient(order_id=order_id, shortages=[])  # released: closed for good


async def reserve(uow: UnitOfWork, message: ReserveInventory, envelope: Envelope) -> None:
    inventory = Inventory(uow.session)
    existing = await inventory.reservation(message.order_id, lock=True)
    if existing is not None:
        uow.send(_answer_again(existing), correlation_id=envelope.correlation_id)
        return

    wanted = domain.combine(Line(i.product_id, i.quantity) for i in message.items)
    products = await inventory.products_for_update(line.product_id for line in wanted)
    short = (
        domain.declined(wanted)
        if declined()
        else domain.shortfalls(wanted, {pid: p.available for pid, p in products.items()})
    )
    reservation = Reservation(order_id=message.order_id, status=ReservationStatus.RESERVED)
    reservation.items = _item_rows(wanted, products)
    if short:
        reservation.status = ReservationStatus.INSUFFICIENT
        reservation.shortages = [
            Shortage(
                product_id=s.product_id,
                requested=s.requested,
                available=s.available,
                name=products[s.product_id].name if s.product_id in products else None,
            ).dump()
            for s in short
        ]
    else:
        now = utcnow()
        for line in wanted:
            product = products[line.product_id]
            product.reserved += line.quantity
            product.updated_at = now
    # A concurrent first reserve of the same order makes this insert fail; the
    # message is then redelivered and answered from the row that won.
    inventory.add(reservation)
    uow.send(_answer_again(reservation), correlation_id=envelope.correlation_id)


async def release(uow: UnitOfWork, message: ReleaseInventory, envelope: Envelope) -> None:
    inventory = Inventory(uow.session)
    reservation = await inventory.reservation(message.order_id, lock=True)
    if reservation is None:
        # Nothing held: leave a tombstone so a reserve arriving later is refused.
        reservation = Reservation(order_id=message.order_id, status=ReservationStatus.RELEASED)
        inventory.add(reservation)
    elif reservation.status == ReservationStatus.RESERVED:
        held = _lines(reservation)
        products = await inventory.products_for_update(line.product_id for line in held)
        now = utcnow()
        for line in held:
            product = products[line.product_id]
            product.reserved -= line.quantity
            product.updated_at = now
        reservation.status = ReservationStatus.RELEASED
        reservation.updated_at = now
    elif reservation.status == ReservationStatus.INSUFFICIENT:
        reservation.status = ReservationStatus.RELEASED
        reservation.items = []  # nothing was held, so nothing is given back
        reservation.updated_at = utcnow()
    # Released already: answered again with what was given back the first time.
    uow.send(
        InventoryReleased(order_id=reservation.order_id, items=_unpriced(reservation)),
        correlation_id=envelope.correlation_id,
    )


def register(endpoint: Endpoint) -> None:
    """Route the inventory's commands to their handlers."""
    endpoint.handles(ReserveInventory)(reserve)
    endpoint.handles(ReleaseInventory)(release)
