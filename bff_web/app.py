"""BFF-Web (port 3010): the web frontend's API, aggregated from the domain services.

Catalogue, sign-up and sign-in, the saved addresses and payment methods
(listed, added, removed), checkout priced by the inventory (idempotent,
optionally waiting for the saga), the user's orders and the order page merged
from orders, users, inventory, payments and the saga in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from bff import create_bff_app, wallet
from bff_web import auth, catalogue, checkout, orders
from bff_web.context import Web
from shared.messaging.transport import Transport
from shared.settings import Settings

GZIP_MINIMUM_BYTES = 1000
"""Order pages run to a few kilobytes; small answers are not worth compressing."""


def build_app(
    settings: Settings,
    transport: Transport,
    *,
    http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """The BFF-Web app; ``http_transports`` replaces the network for chosen services."""
    return create_bff_app(
        Web(settings, http_transports=http_transports),
        transport,
        title="bff-web",
        description=__doc__ or "",
        routers=[auth.router, catalogue.router, wallet.router, checkout.router, orders.router],
        gzip_minimum_size=GZIP_MINIMUM_BYTES,
    )
