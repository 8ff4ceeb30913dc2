"""The inventory's HTTP API (mounted under ``/api/v1``).

Catalogue reads are public; creating and changing products, setting stock and
reading reservations need the ``ops`` role.  ``GET /products`` pages with
``limit`` and ``offset`` (ordered by sku) and answers ``{items, total, limit, offset}``.

Every change to the catalogue is announced on the ``products`` exchange in the
same transaction: ``product.created``, and ``product.updated`` when a name,
description or price is changed or the stock on hand is set (a request that
changes nothing announces nothing).  Reservations move ``available`` with every
order and announce only ``inventory.*`` to the saga: a ``product.updated`` per
order line would flood every subscriber with stock figures that are stale at once.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.exc import IntegrityError

from services.inventory.domain import StockBelowReserved, check_stock_level
from services.inventory.models import Product, utcnow
from services.inventory.repository import Inventory
from services.inventory.schemas import (
    ProductChanges,
    ProductOut,
    ProductPage,
    ReservationOut,
    StockLevel,
)
from shared.catalogue import NewProduct
from shared.messages import ProductCreated, ProductEvent, ProductUpdated
from shared.persistence.outbox import UnitOfWork
from shared.service import ServiceDep
from shared.web.auth import OpsPrincipal
from shared.web.problems import Conflict, NotFound, problem_responses

router = APIRouter(tags=["inventory"])


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


@router.get("/products", responses=problem_responses(422))
async def list_products(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="products to skip")] = 0,
    ids: Annotated[
        list[str] | None,
        Query(alias="id", max_length=100, description="only these product ids (repeatable)"),
    ] = None,
) -> ProductPage:
    """The catalogue with available stock, ordered by sku."""
    async with service.db.reads() as session:
        products, total = await Inventory(session).page(limit=limit, offset=offset, product_ids=ids)
    return ProductPage(
        items=[ProductOut.of(p) for p in products], total=total, limit=limit, offset=offset
    )


@router.get("/products/{product_id}", responses=problem_responses(404, 422))
async def get_product(product_id: str, service: ServiceDep) -> ProductOut:
    """One product with its available stock."""
    async with service.db.reads() as session:
        product = await Inventory(session).product(product_id)
    if product is None:
        raise NotFound(f"product {product_id!r} not found")
    return ProductOut.of(product)


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_product(
    body: NewProduct, service: ServiceDep, _ops: OpsPrincipal, response: Response
) -> ProductOut:
    """Add a product with its initial stock and announce ``product.created``."""
    async with service.uow() as uow:
        inventory = Inventory(uow.session)
        if await inventory.by_sku(body.sku) is not None:
            raise Conflict(f"a product with sku {body.sku!r} already exists", field="sku")
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
        except IntegrityError:  # the same sku committed by a concurrent request
            raise Conflict(f"a product with sku {body.sku!r} already exists", field="sku") from None
    response.headers["Location"] = f"/api/v1/products/{product.id}"
    return ProductOut.of(product)


@router.put(
    "/products/{product_id}/stock", responses=problem_responses(400, 401, 403, 404, 409, 422)
)
async def set_stock(
    product_id: str, body: StockLevel, service: ServiceDep, _ops: OpsPrincipal
) -> ProductOut:
    """Set the units on hand (reserved ones included); never below what is reserved.

    Announces ``product.updated`` when the level changed."""
    async with service.uow() as uow:
        product = await Inventory(uow.session).product(product_id, lock=True)
        if product is None:
            raise NotFound(f"product {product_id!r} not found")
        try:
            check_stock_level(body.quantity, product.reserved)
        except StockBelowReserved as exc:
            raise Conflict(str(exc), field="quantity", reserved=exc.reserved) from None
        if product.on_hand != body.quantity:
            product.on_hand = body.quantity
            product.updated_at = utcnow()
            _announce(uow, ProductUpdated, product)
    return ProductOut.of(product)


@router.patch("/products/{product_id}", responses=problem_responses(400, 401, 403, 404, 422))
async def change_product(
    product_id: str, body: ProductChanges, service: ServiceDep, _ops: OpsPrincipal
) -> ProductOut:
    """Change a product's name, description or price; announces ``product.updated``
    when any of them changed.  Orders already reserved keep the price they were
    reserved at."""
    changes = body.model_dump(include=body.model_fields_set)
    async with service.uow() as uow:
        product = await Inventory(uow.session).product(product_id, lock=True)
        if product is None:
            raise NotFound(f"product {product_id!r} not found")
        changed = {k: v for k, v in changes.items() if getattr(product, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(product, field, value)
            product.updated_at = utcnow()
            _announce(uow, ProductUpdated, product)
    return ProductOut.of(product)


@router.get("/reservations/{order_id}", responses=problem_responses(401, 403, 404, 422))
async def get_reservation(order_id: str, service: ServiceDep, _ops: OpsPrincipal) -> ReservationOut:
    """What an order holds (for ops and the audit)."""
    async with service.db.reads() as session:
        reservation = await Inventory(session).reservation(order_id)
    if reservation is None:
        raise NotFound(f"no reservation for order {order_id!r}")
    return ReservationOut.of(reservation)
