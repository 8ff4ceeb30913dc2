"""BFF-Mobile (port 3011): few round trips and small answers for the mobile app.

Sign-up and sign-in, a start screen in one call, the saved addresses and
payment methods (listed, added, removed), checkout from saved data (optionally
waiting for the saga), and compact orders with cancel; one order is answered
with an ``ETag`` for polling (the list is not); bodies of 500 bytes or more are
gzip-compressed.
"""

from __future__ import annotations

from bff import auth, returns, wallet
from bff.app import bff_app_factory
from bff_mobile import checkout, home, orders
from bff_mobile.context import Mobile

GZIP_MINIMUM_BYTES = 500

build_app = bff_app_factory(
    Mobile,
    title="bff-mobile",
    description=__doc__ or "",
    routers=[
        auth.router,
        home.router,
        wallet.router,
        checkout.router,
        orders.router,
        returns.router,
    ],
    gzip_minimum_size=GZIP_MINIMUM_BYTES,
)
"""The BFF-Mobile app; ``http_transports`` replaces the network for chosen services."""
