"""What the inventory's routes do: read the catalogue, add and change products,
set stock, read reservations.

Every change to the catalogue is announced on the ``products`` exchange in the
same transaction (:func:`_announce`); a request that changes nothing announces
nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from services.inventory.domain import StockBelowReserved, check_stock_level
from services.inventory.models import Product
from services.inventory.repository import Inventory
from services.inventory.schemas import ProductChanges, ProductOut, ProductPage, ReservationOut
from shared.catalogue import NewProduct
from shared.clock import utcnow
from shared.messages import ProductCreated, ProductEvent, ProductUpdated
from shared.persistence.outbox import UnitOfWork
from shared.service import Service
from shared.web.problems import Conflict, NotFound


def _announce(uow: UnitOfWork, event: type[ProductEvent], product: Product) -> None:
    """Publish ``product`` as it now is, with this transaction."""
    uow.send(
        event(
            product_id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price=product.price,
            currency=product.currency,
            available=product.available,
        ),
        correlation_id=product.id,
    )


async def _existing(inventory: Inventory, product_id: str, *, lock: bool = False) -> Product:
    product = await inventory.product(product_id, lock=lock)
    if product is None:
        raise NotFound(f"product {product_id!r} not found")
    return product


async def list_products(
    service: Service, *, limit: int, offset: int, ids: list[str] | None
) -> ProductPage:
    """One page of the catalogue with available stock, ordered by sku."""
    async with service.db.reads() as session:
        products, total = await Inventory(session).page(limit=limit, offset=offset, product_ids=ids)
    return ProductPage(
        items=[ProductOut.of(p) for p in products], total=total, limit=limit, offset=offset
    )


async def get_product(service: Service, product_id: str) -> ProductOut:
    async with service.db.reads() as session:
        return ProductOut.of(await _existing(Inventory(session), product_id))


async def create_product(service: Service, body: NewProduct) -> ProductOut:
    """A new product with its initial stock, announced as ``product.created``; a
    duplicate sku is a conflict, also when a concurrent request committed it first."""
    duplicate = Conflict(f"a product with sku {body.sku!r} already exists", field="sku")
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
    return ProductOut.of(product)


async def set_stock(service: Service, product_id: str, quantity: int) -> ProductOut:
    """Set the units on hand, never below what is reserved; ``product.updated`` when
    the level changed."""
    async with service.uow() as uow:
        product = await _existing(Inventory(uow.session), product_id, lock=True)
        try:
            check_stock_level(quantity, product.reserved)
        except StockBelowReserved as exc:
            raise Conflict(str(exc), field="quantity", reserved=exc.reserved) from None
        if product.on_hand != quantity:
            product.on_hand = quantity
            product.updated_at = utcnow()
            _announce(uow, ProductUpdated, product)
    return ProductOut.of(product)


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
    return ProductOut.of(product)


async def list_reservations(service: Service, *, limit: int, offset: int) -> list[ReservationOut]:
    async with service.db.reads() as session:
        reservations = await Inventory(session).reservations(limit=limit, offset=offset)
    return [ReservationOut.of(r) for r in reservations]


async def get_reservation(service: Service, order_id: str) -> ReservationOut:
    async with service.db.reads() as session:
        reservation = await Inventory(session).reservation(order_id)
    if reservation is None:
        raise NotFound(f"no reservation for order {order_id!r}")
    return ReservationOut.of(reservation)
