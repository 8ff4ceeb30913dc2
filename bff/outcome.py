"""Waiting for an order's saga to finish (``POST /checkout?wait=``, ``POST …/cancel?wait=``).

The saga service knows when an order's fate is sealed; the orders service knows
the status to show.  So: poll the saga until it is terminal, then read the
order.  Polling backs off from 50 ms to 500 ms: most sagas finish within a
few hundred milliseconds, and a slow one should not cost many calls.

The wait ends when the saga has ended or the requested time has passed, not
before: a slow poll, a failing one or an open circuit is waited out like a saga
still running (an open circuit until it lets a probe through).  Only a refusal
that will not change (a 4xx other than the saga's 404) ends it early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import Annotated, Any, NamedTuple
from urllib.parse import quote

from fastapi import Query
from pydantic import BaseModel

from bff.app import Bff
from bff.caller import Caller
from bff.downstream import CircuitOpen, DownstreamError, DownstreamRejected, request_deadline
from bff.downstreams import Downstreams
from saga.definition import TERMINAL, SagaStatus
from shared.logging import get_logger
from shared.web.app import API_PREFIX as API
from shared.web.problems import problem_responses

log = get_logger(__name__)

MAX_WAIT_SECONDS = 30.0
_FIRST_POLL = 0.05
_LONGEST_POLL = 0.5

WaitQuery = Annotated[
    float | None,
    Query(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="seconds to wait for the saga to end; 200 with the final status if it "
        "does, else 202 with the status now",
    ),
]

CANCEL_ENDS = frozenset({SagaStatus.cancelled, SagaStatus.failed})
"""A cancel's saga has ended when it is cancelled, or failed undoing the order (ops
then take over).  ``completed`` is not an end: the saga may not have seen the cancel yet."""


class FinalStatus(NamedTuple):
    """How a checkout ended: the order's status, and why if it was cancelled."""

    status: str
    reason: str | None = None


async def wait_for_outcome(
    downstreams: Downstreams,
    caller: Caller,
    order_id: str,
    seconds: float,
    *,
    call_budget: float,
    ends: Collection[str] = TERMINAL,
) -> FinalStatus | None:
    """The order's status (and cancel reason) once its saga is in one of ``ends`` (by
    default any terminal state); ``None`` if ``seconds`` pass first.

    ``call_budget`` bounds each poll.  A saga that does not exist yet (the
    saga has not seen ``order.created``) is still to come, and so is an answer
    that did not come (a timeout, a 5xx, an open circuit); a 4xx that is not
    that 404 ends the wait early, since asking again would get it again.
    """
    give_up_at = time.monotonic() + seconds
    path = f"{API}/sagas/{quote(order_id, safe='')}"
    pause = _FIRST_POLL
    failures = 0
    while True:
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            return None
        next_poll = pause
        try:
            async with request_deadline(min(remaining, call_budget)):
                saga = await downstreams.saga.get_json(path, headers=caller.auth)
                if saga.get("state") in ends:
                    order = await downstreams.orders.get_json(
                        f"{API}/orders/{quote(order_id, safe='')}", headers=caller.auth
                    )
                    return FinalStatus(str(order["status"]), order.get("cancelReason"))
        except DownstreamRejected as error:
            if error.status != 404:
                log.warning("checkout.wait_abandoned", order_id=order_id, error=str(error))
                return None
        except CircuitOpen as error:
            # Nothing is sent until the circuit lets a probe through: sleep until then.
            next_poll = max(pause, error.retry_after)
        except (DownstreamError, TimeoutError) as error:
            failures += 1
            if failures == 1:
                log.info("checkout.wait_poll_failed", order_id=order_id, error=str(error))
        await asyncio.sleep(min(next_poll, max(0.0, give_up_at - time.monotonic())))
        pause = min(pause * 2, _LONGEST_POLL)


async def final_within(
    bff: Bff, caller: Caller, order_id: str, wait: float | None, *, ends: Collection[str] = TERMINAL
) -> FinalStatus | None:
    """A route's ``?wait``: :func:`wait_for_outcome` within the BFF's per-call budget,
    or ``None`` at once without ``wait``."""
    if not wait:
        return None
    return await wait_for_outcome(
        bff.downstreams,
        caller,
        order_id,
        wait,
        call_budget=bff.settings.bff_request_deadline_seconds,
        ends=ends,
    )


def reason_as_given(reason: str | None) -> str | None:
    """A final status's reason as the saga gave it (a BFF may shorten it instead)."""
    return reason


def ended_within_wait(
    answer: type[BaseModel], description: str, *problems: int
) -> dict[int | str, dict[str, Any]]:
    """The answers of a route that answers 202, or 200 with ``answer`` when the saga
    ended within ``?wait`` (the 200 described by ``description``), or ``problems``."""
    ended = {"model": answer, "description": f"The saga ended within `wait`: {description}"}
    return {200: ended, **problem_responses(*problems)}
