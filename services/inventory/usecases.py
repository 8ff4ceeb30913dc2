"""The inventory's service layer: what its HTTP routes and its command handlers do.

The routes read the catalogue, add and change products, set stock and read
reservations; the saga's commands reserve and release an order's stock.  Each use
case takes the service (or, for a command, the unit of work the message runs in)
and parsed input, applies the rules of :mod:`services.inventory.domain` to rows
read through :mod:`services.inventory.repository`, and raises the domain errors of
:mod:`services.inventory.errors` (answered as :data:`services.inventory.api.PROBLEMS`
says).

Every change to the catalogue is announced on the ``products`` exchange in the
same transaction (:func:`_announce`); a request that changes nothing announces
nothing.  Reservations announce only their answers to the saga.

A reservation is keyed by the order id, so a repeated command changes nothing and
is answered with the first answer:

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

import uuid

from sqlalchemy.exc import IntegrityError

from services.inventory import domain
from services.inventory.domain import Line, ReservationStatus, check_stock_level
from services.inventory.errors import DuplicateSku, ProductNotFound, ReservationNotFound
from services.inventory.models import Product
from services.inventory.repository import Held, Inventory, Stock
from services.inventory.schemas import ProductChanges, ProductOut, ProductPage, ReservationOut
from shared.catalogue import NewProduct
from shared.clock import utcnow
from shared.faults import declined
from shared.messages import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    Message,
    PricedItem,
    ProductCreated,
    ProductEvent,
    ProductUpdated,
    ReservedItem,
    Shortage,
)
from shared.persistence.outbox import UnitOfWork
from shared.service import Service


def _announce(uow: UnitOfWork, event: type[ProductEvent], product: Product) -> None:
    """Publish ``product`` as it now is, as the catalogue shows it, with this transaction."""
    shown = ProductOut.read(product)
    uow.send(
        event(product_id=shown.id, **shown.model_dump(exclude={"id"})), correlation_id=product.id
    )


async def _existing(inventory: Inventory, product_id: str, *, lock: bool = False) -> Product:
    product = await inventory.product(product_id, lock=lock)
    if product is None:
        raise ProductNotFound(product_id)
    return product


async def list_products(
    service: Service, *, limit: int, offset: int, ids: list[str] | None
) -> ProductPage:
    """One page of the catalogue with available stock, ordered by sku."""
    async with service.db.reads() as session:
        products, total = await Inventory(session).page(limit=limit, offset=offset, product_ids=ids)
    return ProductPage(
        items=[ProductOut.read(p) for p in products], total=total, limit=limit, offset=offset
    )


async def get_product(service: Service, product_id: str) -> ProductOut:
    async with service.db.reads() as session:
        return ProductOut.read(await _existing(Inventory(session), product_id))


async def create_product(service: Service, body: NewProduct) -> ProductOut:
    """A new product with its initial stock, announced as ``product.created``; a
    duplicate sku is a conflict, also when a concurrent request committed it first."""
    duplicate = DuplicateSku(body.sku)
    async with service.uow() as uow:
        inventory = Inventory(uow.session)
        if await inventory.by_sku(body.sku) is not None:
            raise duplicate
        product = Product(
            id=str(uuid.uuid4()),
            sku=body.sku,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
            on_hand=body.stock,
        )
        inventory.add(product)
        _announce(uow, ProductCreated, product)
        try:
            await uow.session.flush()
        except IntegrityError:
            raise duplicate from None
    return ProductOut.read(product)


async def set_stock(service: Service, product_id: str, quantity: int) -> ProductOut:
    """Set the units on hand, never below what is reserved; ``product.updated`` when
    the level changed."""
    async with service.uow() as uow:
        product = await _existing(Inventory(uow.session), product_id, lock=True)
        check_stock_level(quantity, product.reserved)
        if product.on_hand != quantity:
            product.on_hand = quantity
            product.updated_at = utcnow()
            _announce(uow, ProductUpdated, product)
    return ProductOut.read(product)


async def change_product(service: Service, product_id: str, body: ProductChanges) -> ProductOut:
    """Change the fields ``body`` sets; ``product.updated`` when any of them changed."""
    changes = body.model_dump(include=body.model_fields_set)
    async with service.uow() as uow:
        product = await _existing(Inventory(uow.session), product_id, lock=True)
        changed = {k: v for k, v in changes.items() if getattr(product, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(product, field, value)
            product.updated_at = utcnow()
            _announce(uow, ProductUpdated, product)
    return ProductOut.read(product)


async def list_reservations(service: Service, *, limit: int, offset: int) -> list[ReservationOut]:
    async with service.db.reads() as session:
        reservations = await Inventory(session).reservations(limit=limit, offset=offset)
    return [ReservationOut.of(r) for r in reservations]


async def get_reservation(service: Service, order_id: str) -> ReservationOut:
    async with service.db.reads() as session:
        reservation = await Inventory(session).reservation(order_id)
    if reservation is None:
        raise ReservationNotFound(order_id)
    return ReservationOut.of(reservation)


def _priced(lines: list[Line], stock: dict[str, Stock]) -> list[dict[str, object]]:
    """The reservation's items, priced from the catalogue when the product exists."""
    items: list[dict[str, object]] = []
    for line in lines:
        product = stock.get(line.product_id)
        item = PricedItem(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=product.price if product is not None else None,
            currency=product.currency if product is not None else None,
        )
        items.append(item.dump())
    return items


def _answer(held: Held) -> Message:
    """What a reserve is answered for an order with the reservation ``held``."""
    if held.status == ReservationStatus.RESERVED:
        return InventoryReserved(
            order_id=held.order_id, items=[PricedItem.model_validate(i) for i in held.items]
        )
    if held.status == ReservationStatus.INSUFFICIENT:
        return InventoryInsufficient(
            order_id=held.order_id,
            shortages=[Shortage.model_validate(s) for s in held.shortages],
        )
    return InventoryInsufficient(order_id=held.order_id, shortages=[])  # released: closed for good


async def reserve(uow: UnitOfWork, order_id: str, items: list[ReservedItem]) -> Message:
    """``inventory.reserve``: all of the order's items or none, once."""
    inventory = Inventory(uow.session)
    existing = await inventory.lock_held(order_id)
    if existing is not None:
        return _answer(existing)
    wanted = domain.combine(Line(i.product_id, i.quantity) for i in items)
    stock = await inventory.lock_stock(line.product_id for line in wanted)
    short = (
        domain.declined(wanted)
        if declined()
        else domain.shortfalls(wanted, {pid: s.available for pid, s in stock.items()})
    )
    now = utcnow()
    if short:
        held = Held(
            order_id,
            ReservationStatus.INSUFFICIENT,
            _priced(wanted, stock),
            [
                Shortage(
                    product_id=s.product_id,
                    requested=s.requested,
                    available=s.available,
                    name=stock[s.product_id].name if s.product_id in stock else None,
                ).dump()
                for s in short
            ],
        )
    else:
        held = Held(order_id, ReservationStatus.RESERVED, _priced(wanted, stock), [])
        await inventory.move_reserved(wanted, sign=1, at=now)
    # A concurrent first reserve of the same order makes this insert fail; the
    # message is then redelivered and answered from the row that won.
    await inventory.record(held, now)
    return _answer(held)


async def release(uow: UnitOfWork, order_id: str) -> Message:
    """``inventory.release``: give back what the order holds, and close its
    reservation for good (a tombstone when there was none)."""
    inventory = Inventory(uow.session)
    held = await inventory.lock_held(order_id)
    now = utcnow()
    given_back: list[Line]
    if held is None:
        # Nothing held: leave a tombstone so a reserve arriving later is refused.
        given_back = []
        await inventory.record(Held(order_id, ReservationStatus.RELEASED, [], []), now)
    elif held.status == ReservationStatus.RESERVED:
        given_back = held.lines
        await inventory.move_reserved(given_back, sign=-1, at=now)
        await inventory.close(order_id, held.items, now)
    elif held.status == ReservationStatus.INSUFFICIENT:
        given_back = []  # nothing was held, so nothing is given back
        await inventory.close(order_id, [], now)
    else:  # released already: answered again with what was given back the first time
        given_back = held.lines
    return InventoryReleased(
        order_id=order_id,
        items=[ReservedItem(product_id=x.product_id, quantity=x.quantity) for x in given_back],
    )
