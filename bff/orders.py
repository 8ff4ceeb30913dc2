"""Reading the caller's orders from the orders service, as both BFFs do, and the
routes both declare: ``GET /orders`` (:func:`add_list_route`) and
``POST /orders/{orderId}/cancel`` (:func:`add_cancel_route`).

The caller's token goes on, so the orders service applies ownership itself
(another user's order answers 404 there).  The BFF checks the owner of what it
got once more, so a service answering too much can never leak an order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from bff.app import Bff, BffDep
from bff.caller import Caller, CurrentCaller
from bff.downstream.client import Primitive
from bff.outcome import (
    CANCEL_ENDS,
    FinalStatus,
    WaitQuery,
    ended_within_wait,
    final_within,
    reason_as_given,
)
from bff.problems import answer_within
from bff.schemas import Id
from shared.web.app import API_PREFIX as API
from shared.web.auth import ensure_owner
from shared.web.cursor import CursorQuery, decode_cursor
from shared.web.problems import problem_responses

OrderId = Annotated[Id, Path(description="the order's id")]


async def fetch_order(bff: Bff, caller: Caller, order_id: str) -> dict[str, Any]:
    """One order as the orders service answers it; another user's is a 404."""
    order: dict[str, Any] = await bff.downstreams.orders.get_json(
        f"{API}/orders/{quote(order_id, safe='')}", headers=caller.auth
    )
    ensure_owner(caller.principal, str(order.get("userId")), f"order {order_id!r}")
    return order


async def fetch_order_page(bff: Bff, caller: Caller, *, limit: int, cursor: str | None) -> Any:
    """A page of the caller's orders, newest first (``cursor``: the last page's ``nextCursor``).

    A cursor the orders service could not have handed out is refused here, as it
    would refuse it, without the call."""
    decode_cursor(cursor)
    params: dict[str, Primitive] = {"userId": caller.user_id, "limit": limit}
    if cursor:
        params["cursor"] = cursor
    return await bff.downstreams.orders.get_json(
        f"{API}/orders", params=params, headers=caller.auth
    )


async def request_cancel(
    bff: Bff, caller: Caller, order_id: str, *, wait: float | None
) -> tuple[Any, FinalStatus | None]:
    """Ask the orders service to cancel the order; with ``wait``, wait for the saga to
    undo it (or to fail doing so) for up to ``wait`` seconds.

    Answers the order as the orders service answered the request, and how the
    cancel ended if it ended within ``wait`` (else ``None``)."""
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        # Asking twice has the effect of asking once (the saga cancels an order once),
        # so a request lost to a closing kept-alive connection is sent again.
        order = await bff.downstreams.orders.post_json(
            f"{API}/orders/{quote(order_id, safe='')}/cancel",
            None,
            headers=caller.auth,
            idempotent=True,
        )
    return order, await final_within(bff, caller, order_id, wait, ends=CANCEL_ENDS)


A = TypeVar("A", bound=BaseModel)


async def accept_cancel(
    bff: Bff,
    caller: Caller,
    order_id: str,
    response: Response,
    *,
    wait: float | None,
    poll: str,
    accepted: Callable[[Any, str], A],
    reason: Callable[[str | None], str | None] = reason_as_given,
) -> A:
    """A cancel route's answer: :func:`request_cancel`, ``Location`` at ``poll``,
    ``accepted(the order as answered, poll)``; and, when the saga undid the order
    within ``wait``, 200 with the final status and ``reason(the saga's reason)``."""
    answer, final = await request_cancel(bff, caller, order_id, wait=wait)
    response.headers["Location"] = poll
    result = accepted(answer, poll)
    if final is not None and final.status == "cancelled":
        response.status_code = status.HTTP_200_OK
        update = {"status": final.status, "reason": reason(final.reason)}
        result = result.model_copy(update=update)
    return result


def add_cancel_route(
    router: APIRouter,
    *,
    answer: type[A],
    poll: Callable[[str], str],
    accepted: Callable[[Any, str], A],
    reason: Callable[[str | None], str | None] = reason_as_given,
) -> None:
    """``POST /{order_id}/cancel`` on ``router`` (a BFF's ``/orders``), answering
    ``answer`` as :func:`accept_cancel` makes it: ``accepted(the order, poll)``,
    polled at ``poll(order_id)``, the saga's reason as ``reason`` words it."""

    @router.post(
        "/{order_id}/cancel",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=answer,
        responses=ended_within_wait(answer, "the order is cancelled", 401, 404, 409, 422, 502, 504),
    )
    async def cancel_order(
        order_id: OrderId,
        caller: CurrentCaller,
        bff: BffDep,
        response: Response,
        wait: WaitQuery = None,
    ) -> BaseModel:
        """Ask for the order to be cancelled; the saga undoes what was done (refund, release).

        The answer says ``cancelRequested: true`` and where to poll (``poll``, and
        ``Location``): the status turns ``cancelled`` when the saga has undone the
        order.  With ``?wait`` the answer waits for that (200), or says the status
        now (202) if it takes longer or the saga needs ops to finish it.
        """
        return await accept_cancel(
            bff,
            caller,
            order_id,
            response,
            wait=wait,
            poll=poll(order_id),
            accepted=accepted,
            reason=reason,
        )


def add_list_route(
    router: APIRouter, page: Callable[[Any], BaseModel], *, most: int, doc: str
) -> None:
    """``GET /`` on ``router`` (a BFF's ``/orders``): a page of at most ``most`` of the
    caller's orders, newest first, as ``page(the orders service's answer)`` makes it
    (its return annotation names the route's answer model); ``doc`` describes it."""

    async def list_orders(
        caller: CurrentCaller, bff: BffDep, limit: int = 20, cursor: CursorQuery = None
    ) -> BaseModel:
        async with answer_within(bff.settings.bff_request_deadline_seconds):
            answer = await fetch_order_page(bff, caller, limit=limit, cursor=cursor)
        return page(answer)

    list_orders.__doc__ = doc
    list_orders.__annotations__["limit"] = Annotated[
        int, Query(ge=1, le=most, description="page size")
    ]
    router.get(
        "",
        response_model=get_type_hints(page)["return"],
        responses=problem_responses(401, 422, 502, 504),
    )(list_orders)
