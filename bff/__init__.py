"""What the two BFFs share; each shapes its own answers on top.

::

    Bff, create_bff_app, BffDep       composition root: clients, idempotency store,
                                      rate limiters, the app with health, readiness
                                      and problems
    bff_app_factory                   a BFF's ``build_app``, from its Bff and routers
    Downstreams, API                  one resilient client per service (orders,
                                      inventory, users, payments, saga)
    Caller, CurrentCaller             the validated bearer token, passed on downstream
    RateLimiter, client_address       per-key token buckets → 429 with Retry-After
    IdempotencyStore, StoredAnswer    ``Idempotency-Key``: one answer per key and body
    price_basket, PricedBasket        prices from the inventory, never the client
    once_per_key, place_order,        the checkout steps both BFFs share
    usable_payment_method, IdempotencyKey
    fetch_order, fetch_order_page     the caller's orders, ownership checked
    sign_in, log_in, register,        the users service's token, handed over;
    limit_sign_ins, as_bff            how a BFF names itself to the users service
    auth                              the ``/auth`` routes: sign-up and sign-in
    wallet                            the caller's saved addresses and payment methods
    CamelModel, RequestBody, Id, Basket, …  request and answer bodies both BFFs use
    answer_within                     a route's deadline; running out is a 504
    parse_answer                      a downstream body read into a model; a wrong shape is a 502
    concurrently, Once                await a few calls at once; share one call between parts
    install_downstream_problems       DownstreamError → RFC 9457 (502/504, 4xx passed on)
    problem_responses                 OpenAPI entries for a route's problem answers
"""

from bff.app import Bff, BffDep, bff_app_factory, create_bff_app
from bff.caller import Caller, CurrentCaller, client_address
from bff.checkout import once_per_key, place_order, usable_payment_method
from bff.concurrency import Once, concurrently
from bff.downstreams import Downstreams
from bff.idempotency import IdempotencyStore, StoredAnswer, downstream_key
from bff.orders import fetch_order, fetch_order_page
from bff.pricing import PricedBasket, PricedLine, price_basket
from bff.problems import (
    answer_within,
    downstream_problem,
    install_downstream_problems,
    parse_answer,
)
from bff.schemas import (
    Basket,
    CheckoutItem,
    Credentials,
    Id,
    Registered,
    Registration,
    Session,
    UtcDateTime,
)
from bff.signin import as_bff, limit_sign_ins, log_in, register, sign_in
from shared.settings import SERVICES
from shared.web.app import API_PREFIX as API
from shared.web.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKey,
    fingerprint,
)
from shared.web.problems import problem_responses
from shared.web.ratelimit import RateLimiter
from shared.web.schemas import CamelModel, RequestBody

__all__ = [
    "API",
    "REPLAYED_HEADER",
    "SERVICES",
    "Basket",
    "Bff",
    "BffDep",
    "Caller",
    "CamelModel",
    "CheckoutItem",
    "Credentials",
    "CurrentCaller",
    "Downstreams",
    "Id",
    "IdempotencyKey",
    "IdempotencyStore",
    "Once",
    "PricedBasket",
    "PricedLine",
    "RateLimiter",
    "Registered",
    "Registration",
    "RequestBody",
    "Session",
    "StoredAnswer",
    "UtcDateTime",
    "answer_within",
    "as_bff",
    "bff_app_factory",
    "client_address",
    "concurrently",
    "create_bff_app",
    "downstream_key",
    "downstream_problem",
    "fetch_order",
    "fetch_order_page",
    "fingerprint",
    "install_downstream_problems",
    "limit_sign_ins",
    "log_in",
    "once_per_key",
    "parse_answer",
    "place_order",
    "price_basket",
    "problem_responses",
    "register",
    "sign_in",
    "usable_payment_method",
]
