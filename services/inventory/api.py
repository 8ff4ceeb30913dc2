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

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.inventory import restock, usecases
from services.inventory.errors import (
    DuplicateSku,
    ProductNotFound,
    ReservationNotFound,
    RestockNotFound,
    StockBelowReserved,
)
from services.inventory.schemas import (
    ProductChanges,
    ProductOut,
    ProductPage,
    ReservationOut,
    RestockOut,
    StockLevel,
)
from shared.catalogue import NewProduct
from shared.service import ServiceDep
from shared.web.app import API_PREFIX
from shared.web.auth import OpsPrincipal
from shared.web.problems import Conflict, DomainProblems, NotFound, problem_responses
from shared.web.schemas import SafeId

router = APIRouter(tags=["inventory"])

PROBLEMS: DomainProblems = {
    ProductNotFound: lambda e: NotFound(str(e)),
    ReservationNotFound: lambda e: NotFound(str(e)),
    RestockNotFound: lambda e: NotFound(str(e)),
    DuplicateSku: lambda e: Conflict(str(e), field="sku"),
    StockBelowReserved: lambda e: Conflict(str(e), field="quantity", reserved=e.reserved),
}


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
    return await usecases.list_products(service, limit=limit, offset=offset, ids=ids)


@router.get("/products/{product_id}", responses=problem_responses(404, 422))
async def get_product(product_id: SafeId, service: ServiceDep) -> ProductOut:
    """One product with its available stock."""
    return await usecases.get_product(service, product_id)


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_product(
    body: NewProduct, service: ServiceDep, _ops: OpsPrincipal, response: Response
) -> ProductOut:
    """Add a product with its initial stock and announce ``product.created``."""
    product = await usecases.create_product(service, body)
    response.headers["Location"] = f"{API_PREFIX}/products/{product.id}"
    return product


@router.put(
    "/products/{product_id}/stock", responses=problem_responses(400, 401, 403, 404, 409, 422)
)
async def set_stock(
    product_id: SafeId, body: StockLevel, service: ServiceDep, _ops: OpsPrincipal
) -> ProductOut:
    """Set the units on hand (reserved ones included); never below what is reserved.

    Announces ``product.updated`` when the level changed."""
    return await usecases.set_stock(service, product_id, body.quantity)


@router.patch("/products/{product_id}", responses=problem_responses(400, 401, 403, 404, 422))
async def change_product(
    product_id: SafeId, body: ProductChanges, service: ServiceDep, _ops: OpsPrincipal
) -> ProductOut:
    """Change a product's name, description or price; announces ``product.updated``
    when any of them changed.  Orders already reserved keep the price they were
    reserved at."""
    return await usecases.change_product(service, product_id, body)


@router.get("/reservations", responses=problem_responses(401, 403, 422))
async def list_reservations(
    service: ServiceDep,
    _ops: OpsPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ReservationOut]:
    """Every reservation, oldest first, a page of ``limit`` from ``offset`` (for ops and
    the audit, which checks each belongs to an order with a saga)."""
    return await usecases.list_reservations(service, limit=limit, offset=offset)


@router.get("/reservations/{order_id}", responses=problem_responses(401, 403, 404, 422))
async def get_reservation(order_id: str, service: ServiceDep, _ops: OpsPrincipal) -> ReservationOut:
    """What an order holds (for ops and the audit)."""
    return await usecases.get_reservation(service, order_id)


@router.get("/restocks/{return_id}", responses=problem_responses(401, 403, 404, 422))
async def get_restock(return_id: str, service: ServiceDep, _ops: OpsPrincipal) -> RestockOut:
    """What a return put back on the shelf (for ops and the audit)."""
    return await restock.get_restock(service, return_id)
