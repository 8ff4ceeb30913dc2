"""BFF-Web (port 3010): the web frontend's API, aggregated from the domain services.

Catalogue, sign-up and sign-in, the saved addresses and payment methods
(listed, added, removed), checkout priced by the inventory (idempotent,
optionally waiting for the saga), the user's orders and the order page merged
from orders, users, inventory, payments and the saga in parallel.
"""

from __future__ import annotations

from bff import auth, returns, wallet
from bff.app import bff_app_factory
from bff_web import catalogue, checkout, orders
from bff_web.context import Web

GZIP_MINIMUM_BYTES = 1000
"""Order pages run to a few kilobytes; small answers are not worth compressing."""

build_app = bff_app_factory(
    Web,
    title="bff-web",
    description=__doc__ or "",
    routers=[
        auth.router,
        catalogue.router,
        wallet.router,
        checkout.router,
        orders.router,
        returns.router,
    ],
    gzip_minimum_size=GZIP_MINIMUM_BYTES,
)
"""The BFF-Web app; ``http_transports`` replaces the network for chosen services."""
