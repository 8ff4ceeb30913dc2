"""The catalogue with available stock: public, no token needed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from bff_web.context import WebDep
from bff_web.schemas import Product, ProductPage
from shared.bff import API, Id, answer_within, parse_answer, problem_responses

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
