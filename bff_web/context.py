"""What BFF-Web's routes share: the kit's machinery and a short-lived product cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends

from bff import API, Bff
from bff.app import current_bff
from bff.downstream import CoalescingCache
from shared.settings import Settings

PRODUCT_TTL_SECONDS = 2.0
"""How long a product (price, stock) may be served from memory.

Short: the stock figure moves with every order.  What it buys is under load,
where the same few products appear on many order pages at once and concurrent
lookups of one product become one call.  Checkout never prices from it.
"""


class Web(Bff):
    """BFF-Web: the shared machinery plus the product cache of the order pages."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        super().__init__("bff_web", settings, http_transports=http_transports)
        self.products: CoalescingCache[str, dict[str, Any]] = CoalescingCache(
            self._fetch_product, PRODUCT_TTL_SECONDS
        )

    async def _fetch_product(self, product_id: str) -> dict[str, Any]:
        product: dict[str, Any] = await self.downstreams.inventory.get_json(
            f"{API}/products/{quote(product_id, safe='')}"
        )
        return product


WebDep = Annotated[Web, Depends(current_bff)]
