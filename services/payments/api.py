"""The payments HTTP API: saved payment methods, and payments with their refunds.

Every path needs a bearer token.  A customer reaches only their own saved
methods and payments (another user's look absent: 404, or an empty list);
listing every payment is for ops.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from services.payments import domain, usecases
from services.payments.errors import (
    CardAlreadySaved,
    EveryPaymentForOps,
    PaymentMethodNotFound,
    ProviderUnavailable,
)
from services.payments.gateway import CardGateway
from services.payments.schemas import (
    NewPaymentMethod,
    PaymentMethodOut,
    PaymentOut,
    PaymentSummary,
)
from shared.service import ServiceDep
from shared.settings import CARD_PROVIDER
from shared.web.auth import CurrentPrincipal, ensure_owner
from shared.web.problems import (
    BadGateway,
    Conflict,
    DomainProblems,
    Forbidden,
    NotFound,
    problem_responses,
)

router = APIRouter(tags=["payments"])

PROBLEMS: DomainProblems = {
    PaymentMethodNotFound: lambda e: NotFound(str(e)),
    CardAlreadySaved: lambda e: Conflict(str(e), field="token"),
    EveryPaymentForOps: lambda e: Forbidden(str(e)),
    ProviderUnavailable: lambda e: BadGateway(str(e), service=CARD_PROVIDER),
}


async def _gateway(request: Request) -> CardGateway:
    gateway: CardGateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[CardGateway, Depends(_gateway)]

Reference = Annotated[
    str, Path(min_length=1, max_length=64, pattern=domain.REFERENCE.pattern, examples=["ada"])
]
OrderIdQuery = Annotated[
    str, Query(alias="orderId", min_length=1, max_length=64, pattern=domain.REFERENCE.pattern)
]


@router.get("/users/{user_id}/payment-methods", responses=problem_responses(401, 404, 422))
async def list_payment_methods(
    user_id: Reference, principal: CurrentPrincipal, service: ServiceDep
) -> list[PaymentMethodOut]:
    """The user's saved payment methods (the test cards are not listed: they are
    everyone's and need no saving)."""
    ensure_owner(principal, user_id, "user")
    return await usecases.list_payment_methods(service, user_id)


@router.post(
    "/users/{user_id}/payment-methods",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 409, 422, 502),
)
async def save_payment_method(
    user_id: Reference,
    body: NewPaymentMethod,
    principal: CurrentPrincipal,
    service: ServiceDep,
    gateway: GatewayDep,
) -> PaymentMethodOut:
    """Save a card by its gateway token; a test card's brand and last digits are known."""
    ensure_owner(principal, user_id, "user")
    return await usecases.save_payment_method(service, gateway, user_id, body)


@router.delete(
    "/users/{user_id}/payment-methods/{method_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422),
)
async def remove_payment_method(
    user_id: Reference, method_id: Reference, principal: CurrentPrincipal, service: ServiceDep
) -> None:
    """Forget a saved card; a test card is not saved and cannot be removed (404)."""
    ensure_owner(principal, user_id, "payment method")
    await usecases.remove_payment_method(service, user_id, method_id)


@router.get("/payment-methods/{method_id}", responses=problem_responses(401, 404, 422, 502))
async def get_payment_method(
    method_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    principal: CurrentPrincipal,
    service: ServiceDep,
    gateway: GatewayDep,
) -> PaymentMethodOut:
    return await usecases.get_payment_method(service, gateway, method_id, principal)


@router.get("/payments", responses=problem_responses(401, 403, 422))
async def list_payments(
    principal: CurrentPrincipal,
    service: ServiceDep,
    order_id: Annotated[
        str | None,
        Query(alias="orderId", min_length=1, max_length=64, pattern=domain.REFERENCE.pattern),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[PaymentOut]:
    """An order's payments with their refunds (ops, or the order's user: others get an
    empty list); without ``orderId``, every payment (ops only), oldest first, a page
    of ``limit`` from ``offset`` (``oms audit`` walks them all)."""
    return await usecases.list_payments(
        service, principal, order_id=order_id, limit=limit, offset=offset
    )


@router.get("/payments/summary", responses=problem_responses(401, 422))
async def payment_summary(
    order_id: OrderIdQuery, principal: CurrentPrincipal, service: ServiceDep
) -> PaymentSummary:
    """Captured minus refunded for one order (what ``oms audit`` checks)."""
    return await usecases.payment_summary(service, principal, order_id)
