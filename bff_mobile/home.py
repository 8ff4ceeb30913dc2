"""``GET /home``: the start screen (recent orders, featured products) in one round trip.

Both parts are fetched at once under the request deadline; either may fail or
be late without failing the screen: it is then ``null`` and named in ``degraded``.
"""

from __future__ import annotations

from fastapi import APIRouter

from bff import API, CurrentCaller, answer_within, parse_answer, problem_responses
from bff.downstream import Section, fan_out
from bff_mobile.context import MobileDep
from bff_mobile.schemas import CompactOrder, FeaturedProduct, Home, ServiceOrderPage

router = APIRouter(tags=["home"])

RECENT_ORDERS = 5


@router.get("/home", responses=problem_responses(401, 504))
async def home(caller: CurrentCaller, mobile: MobileDep) -> Home:
    """Recent orders and featured products, fetched in parallel."""
    downstreams = mobile.downstreams

    async def recent_orders() -> list[CompactOrder]:
        answer = await downstreams.orders.get_json(
            f"{API}/orders",
            params={"userId": caller.user_id, "limit": RECENT_ORDERS},
            headers=caller.auth,
        )
        page = parse_answer(ServiceOrderPage, answer, "orders")
        return [CompactOrder.of(order) for order in page.items]

    async def featured() -> list[FeaturedProduct]:
        products = await mobile.featured.get("featured")
        return [parse_answer(FeaturedProduct, p, "inventory") for p in products]

    async with answer_within(mobile.settings.bff_request_deadline_seconds):
        result = await fan_out(
            {
                "recentOrders": Section(recent_orders, essential=False, service="orders"),
                "featured": Section(featured, essential=False, service="inventory"),
            }
        )
    mobile.count_degraded(result.degraded)
    return Home(
        recent_orders=result.values["recentOrders"],
        featured=result.values["featured"],
        degraded=result.degraded,
    )
