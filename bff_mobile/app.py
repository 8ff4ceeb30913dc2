"""BFF-Mobile (port 3011): few round trips and small answers for the mobile app.

Sign-up and sign-in, a start screen in one call, the saved addresses and
payment methods (listed, added, removed), checkout from saved data (optionally
waiting for the saga), and compact orders with cancel; one order is answered
with an ``ETag`` for polling (the list is not); bodies of 500 bytes or more are
gzip-compressed.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi import FastAPI

from bff import create_bff_app, wallet
from bff_mobile import auth, checkout, home, orders
from bff_mobile.context import Mobile
from shared.messaging.transport import Transport
from shared.settings import Settings

GZIP_MINIMUM_BYTES = 500


def build_app(
    settings: Settings,
    transport: Transport,
    *,
    http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """The BFF-Mobile app; ``http_transports`` replaces the network for chosen services."""
    return create_bff_app(
        Mobile(settings, http_transports=http_transports),
        transport,
        title="bff-mobile",
        description=__doc__ or "",
        routers=[auth.router, home.router, wallet.router, checkout.router, orders.router],
        gzip_minimum_size=GZIP_MINIMUM_BYTES,
    )
