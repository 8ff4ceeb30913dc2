"""Calling other services from a BFF: resilient clients, deadlines and fan-out.

The public surface::

    DownstreamClient, DownstreamConfig    one pooled, bulkheaded, retrying, circuit-broken
                                          client per downstream service
    request_deadline, current_deadline    one time budget per incoming request
    fan_out, Section, FanOutResult        concurrent sections, optional ones degrade
    CoalescingCache                       TTL cache merging concurrent fetches per key
    DownstreamError and subclasses        see :mod:`bff.downstream.errors` for the tree

Wiring, once per BFF in its lifespan::

    inventory = DownstreamClient("inventory", DownstreamConfig(base_url=settings.inventory_url))
    ...
    await inventory.aclose()
"""

from bff.downstream.breaker import BreakerState, CircuitBreaker
from bff.downstream.cache import CoalescingCache
from bff.downstream.client import DownstreamClient, DownstreamConfig
from bff.downstream.deadline import (
    REQUEST_TIMEOUT_HEADER,
    Deadline,
    bind_deadline,
    budget_from_header,
    current_deadline,
    request_deadline,
)
from bff.downstream.errors import (
    CircuitOpen,
    DownstreamError,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
    EssentialSectionFailed,
)
from bff.downstream.fanout import FanOutResult, Section, fan_out

__all__ = [
    "REQUEST_TIMEOUT_HEADER",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "CoalescingCache",
    "Deadline",
    "DownstreamClient",
    "DownstreamConfig",
    "DownstreamError",
    "DownstreamRejected",
    "DownstreamTimeout",
    "DownstreamUnavailable",
    "EssentialSectionFailed",
    "FanOutResult",
    "Section",
    "bind_deadline",
    "budget_from_header",
    "current_deadline",
    "fan_out",
    "request_deadline",
]
