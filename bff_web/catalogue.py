"""The catalogue with available stock: public, no token needed to read it; adding a
product needs the ``ops`` role."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response, status

from bff import API, CurrentCaller, Id, answer_within, parse_answer, problem_responses
from bff_web.context import WebDep
from bff_web.schemas import Product, ProductPage
from shared.catalogue import NewProduct
from shared.web.problems import Forbidden

router = APIRouter(prefix="/products", tags=["catalogue"])


@router.get("", responses=problem_responses(422, 502, 504))
async def list_products(
    web: WebDep,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="products to skip")] = 0,
) -> ProductPage:
    """A page of the catalogue, ordered by sku."""
    async with answer_within(web.settings.bff_request_deadline_seconds):
        page = await web.downstreams.inventory.get_json(
            f"{API}/products", params={"limit": limit, "offset": offset}
        )
    return parse_answer(ProductPage, page, "inventory")


@router.get("/{product_id}", responses=problem_responses(404, 422, 502, 504))
async def get_product(product_id: Annotated[Id, Path()], web: WebDep) -> Product:
    """One product; served from a short-lived cache shared by concurrent requests."""
    async with answer_within(web.settings.bff_request_deadline_seconds):
        product = await web.products.get(product_id)
    return parse_answer(Product, product, "inventory")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422, 502, 504),
)
async def add_product(
    body: NewProduct, caller: CurrentCaller, web: WebDep, response: Response
) -> Product:
    """Add a product with its initial stock (``ops`` role): forwarded to the inventory,
    which announces ``product.created``.  A duplicate sku is a 409."""
    if not caller.principal.is_ops:
        # Refused here, so a customer's attempt costs the inventory nothing.
        raise Forbidden("adding products needs the ops role")
    async with answer_within(web.settings.bff_write_deadline_seconds):
        # Not retried (no idempotency key): a second attempt would meet a 409.
        created = await web.downstreams.inventory.post_json(
            f"{API}/products",
            body.model_dump(by_alias=True, exclude_none=True),
            headers=caller.auth,
        )
    product = parse_answer(Product, created, "inventory")
    response.headers["Location"] = f"{API}/products/{quote(product.id, safe='')}"
    return product
