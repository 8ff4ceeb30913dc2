"""What BFF-Mobile's routes share: the kit's machinery and the cached featured list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import httpx
from fastapi import Depends

from bff import API, Bff
from bff.app import current_bff
from bff.downstream import CoalescingCache
from shared.settings import Settings

FEATURED_COUNT = 6
FEATURED_TTL_SECONDS = 5.0
"""Every app start asks for the same featured list: one call per few seconds serves them all."""


class Mobile(Bff):
    """BFF-Mobile: the shared machinery plus the featured products of the start screen."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        super().__init__("bff_mobile", settings, http_transports=http_transports)
        self.featured: CoalescingCache[str, list[dict[str, Any]]] = CoalescingCache(
            self._fetch_featured, FEATURED_TTL_SECONDS, max_entries=1
        )

    async def _fetch_featured(self, _key: str) -> list[dict[str, Any]]:
        # Featured: the first products of the catalogue that are in stock.
        page = await self.downstreams.inventory.get_json(
            f"{API}/products", params={"limit": FEATURED_COUNT * 4}
        )
        in_stock = [p for p in page["items"] if p.get("available", 0) > 0]
        return in_stock[:FEATURED_COUNT]


MobileDep = Annotated[Mobile, Depends(current_bff)]
