"""What BFF-Web's routes share: the kit's machinery, the product cache, the rate limiters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from shared.bff import API, Bff, Downstreams, RateLimiter
from shared.downstream import CoalescingCache
from shared.settings import Settings

PRODUCT_TTL_SECONDS = 2.0
"""How long a product (price, stock) may be served from memory.

Short: the stock figure moves with every order.  What it buys is under load,
where the same few products appear on many order pages at once and concurrent
lookups of one product become one call.  Checkout never prices from it.
"""


@dataclass
class Web:
    bff: Bff
    products: CoalescingCache[str, dict[str, Any]]
    auth_limiter: RateLimiter
    checkout_limiter: RateLimiter

    @property
    def settings(self) -> Settings:
        return self.bff.settings

    @property
    def downstreams(self) -> Downstreams:
        return self.bff.downstreams

    @classmethod
    def build(cls, bff: Bff) -> Web:
        settings = bff.settings

        async def fetch_product(product_id: str) -> dict[str, Any]:
            product: dict[str, Any] = await bff.downstreams.inventory.get_json(
                f"{API}/products/{quote(product_id, safe='')}"
            )
            return product

        return cls(
            bff=bff,
            products=CoalescingCache(fetch_product, PRODUCT_TTL_SECONDS),
            auth_limiter=RateLimiter(
                settings.bff_auth_rate_limit, settings.bff_rate_window_seconds
            ),
            checkout_limiter=RateLimiter(
                settings.bff_checkout_rate_limit, settings.bff_rate_window_seconds
            ),
        )


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(_web)]
