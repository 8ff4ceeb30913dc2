"""What the two BFFs share; each shapes its own answers on top.

::

    Bff, create_bff_app, BffDep       composition root: clients, idempotency store,
                                      the app with health, readiness and problems
    Downstreams, API                  one resilient client per service (orders,
                                      inventory, users, payments, saga)
    Caller, CurrentCaller             the validated bearer token, passed on downstream
    RateLimiter, client_address       per-key token buckets → 429 with Retry-After
    IdempotencyStore, StoredAnswer    ``Idempotency-Key``: one answer per key and body
    price_basket, PricedBasket        prices from the inventory, never the client
    answer_within                     a route's deadline; running out is a 504
    parse_answer                      a downstream body read into a model; a wrong shape is a 502
    concurrently, Once                await a few calls at once; share one call between parts
    install_downstream_problems       DownstreamError → RFC 9457 (502/504, 4xx passed on)
    problem_responses                 OpenAPI entries for a route's problem answers
"""

from shared.bff.app import Bff, BffDep, create_bff_app
from shared.bff.caller import Caller, CurrentCaller, client_address
from shared.bff.concurrency import Once, concurrently
from shared.bff.downstreams import API, SERVICES, Downstreams
from shared.bff.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    IdempotencyStore,
    StoredAnswer,
    downstream_key,
    fingerprint,
)
from shared.bff.pricing import PricedBasket, PricedLine, price_basket
from shared.bff.problems import (
    answer_within,
    downstream_problem,
    install_downstream_problems,
    parse_answer,
)
from shared.bff.ratelimit import RateLimiter
from shared.web.problems import problem_responses

__all__ = [
    "API",
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "SERVICES",
    "Bff",
    "BffDep",
    "Caller",
    "CurrentCaller",
    "Downstreams",
    "IdempotencyStore",
    "Once",
    "PricedBasket",
    "PricedLine",
    "RateLimiter",
    "StoredAnswer",
    "answer_within",
    "client_address",
    "concurrently",
    "create_bff_app",
    "downstream_key",
    "downstream_problem",
    "fingerprint",
    "install_downstream_problems",
    "parse_answer",
    "price_basket",
    "problem_responses",
]
