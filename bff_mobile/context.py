"""What BFF-Mobile's routes share: the kit's machinery, the featured list, the rate limiters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from shared.bff import API, Bff, Downstreams, RateLimiter
from shared.downstream import CoalescingCache
from shared.settings import Settings

FEATURED_COUNT = 6
FEATURED_TTL_SECONDS = 5.0
"""Every app start asks for the same featured list: one call per few seconds serves them all."""


@dataclass
class Mobile:
    bff: Bff
    featured: CoalescingCache[str, list[dict[str, Any]]]
    auth_limiter: RateLimiter
    checkout_limiter: RateLimiter

    @property
    def settings(self) -> Settings:
        return self.bff.settings

    @property
    def downstreams(self) -> Downstreams:
        return self.bff.downstreams

    @classmethod
    def build(cls, bff: Bff) -> Mobile:
        settings = bff.settings

        async def fetch_featured(_key: str) -> list[dict[str, Any]]:
            # Featured: the first products of the catalogue that are in stock.
            page = await bff.downstreams.inventory.get_json(
                f"{API}/products", params={"limit": FEATURED_COUNT * 4}
            )
            in_stock = [p for p in page["items"] if p.get("available", 0) > 0]
            return in_stock[:FEATURED_COUNT]

        return cls(
            bff=bff,
            featured=CoalescingCache(fetch_featured, FEATURED_TTL_SECONDS, max_entries=1),
            auth_limiter=RateLimiter(
                settings.bff_auth_rate_limit, settings.bff_rate_window_seconds
            ),
            checkout_limiter=RateLimiter(
                settings.bff_checkout_rate_limit, settings.bff_rate_window_seconds
            ),
        )


def _mobile(request: Request) -> Mobile:
    mobile: Mobile = request.app.state.mobile
    return mobile


MobileDep = Annotated[Mobile, Depends(_mobile)]
