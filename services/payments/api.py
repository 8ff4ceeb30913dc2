"""The payments HTTP API: saved payment methods, and payments with their refunds.

Every path needs a bearer token.  A customer reaches only their own saved
methods and payments (another user's look absent: 404, or an empty list);
listing every payment is for ops.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments import domain, repository
from services.payments.domain import PaymentStatus, RefundAttempt, RefundStatus
from services.payments.gateway import TEST_CARDS
from services.payments.models import Payment, PaymentMethod, Refund
from services.payments.schemas import (
    NewPaymentMethod,
    PaymentMethodOut,
    PaymentOut,
    PaymentSummary,
    RefundOut,
)
from shared.auth import Principal
from shared.service import ServiceDep
from shared.web.auth import CurrentPrincipal, ensure_owner
from shared.web.problems import Conflict, Forbidden, NotFound, problem_responses

router = APIRouter(tags=["payments"])

Reference = Annotated[
    str, Path(min_length=1, max_length=64, pattern=domain.REFERENCE.pattern, examples=["ada"])
]
OrderIdQuery = Annotated[
    str, Query(alias="orderId", min_length=1, max_length=64, pattern=domain.REFERENCE.pattern)
]


async def _session(service: ServiceDep) -> AsyncIterator[AsyncSession]:
    async with service.db.reads() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


def _method_out(method: PaymentMethod) -> PaymentMethodOut:
    return PaymentMethodOut(id=method.id, brand=method.brand, last4=method.last4)


def _visible(principal: Principal) -> str | None:
    """The user whose payments a principal may see; None: everyone's (ops)."""
    return None if principal.is_ops else principal.sub


@router.get("/users/{user_id}/payment-methods", responses=problem_responses(401, 404, 422))
async def list_payment_methods(
    user_id: Reference, principal: CurrentPrincipal, session: SessionDep
) -> list[PaymentMethodOut]:
    """The user's saved payment methods (the test cards are not listed: they are
    everyone's and need no saving)."""
    ensure_owner(principal, user_id, "user")
    stmt = (
        select(PaymentMethod)
        .where(PaymentMethod.user_id == user_id)
        .order_by(col(PaymentMethod.created_at), col(PaymentMethod.id))
    )
    return [_method_out(m) for m in (await session.exec(stmt)).all()]


@router.post(
    "/users/{user_id}/payment-methods",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 409, 422),
)
async def save_payment_method(
    user_id: Reference, body: NewPaymentMethod, principal: CurrentPrincipal, service: ServiceDep
) -> PaymentMethodOut:
    """Save a card by its gateway token; a test card's brand and last digits are known."""
    ensure_owner(principal, user_id, "user")
    card = TEST_CARDS.get(body.token)
    method = PaymentMethod(
        user_id=user_id,
        token=body.token,
        brand=body.brand or (card.brand if card else None),
        last4=body.last4 or (card.last4 if card else None),
    )
    try:
        async with service.uow() as uow:
            uow.session.add(method)
            await uow.session.flush()
    except IntegrityError:
        raise Conflict("this card is already saved", field="token") from None
    return _method_out(method)


@router.get("/payment-methods/{method_id}", responses=problem_responses(401, 404, 422))
async def get_payment_method(
    method_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    principal: CurrentPrincipal,
    session: SessionDep,
) -> PaymentMethodOut:
    card = TEST_CARDS.get(method_id)
    if card is not None:
        return PaymentMethodOut(id=method_id, brand=card.brand, last4=card.last4)
    method = await session.get(PaymentMethod, method_id) if domain.is_uuid(method_id) else None
    if method is None:
        raise NotFound("payment method not found")
    ensure_owner(principal, method.user_id, "payment method")
    return _method_out(method)


async def _payments(
    session: AsyncSession, *, order_id: str | None, user_id: str | None, limit: int
) -> list[tuple[Payment, list[Refund]]]:
    stmt = select(Payment).order_by(col(Payment.created_at), col(Payment.id)).limit(limit)
    if order_id is not None:
        stmt = stmt.where(Payment.order_id == order_id)
    if user_id is not None:
        stmt = stmt.where(Payment.user_id == user_id)
    payments = list((await session.exec(stmt)).all())
    by_payment: dict[str, list[Refund]] = defaultdict(list)
    for refund in await repository.refunds_of(session, [p.id for p in payments]):
        by_payment[refund.payment_id].append(refund)
    return [(p, by_payment[p.id]) for p in payments]


def _attempts(refunds: list[Refund]) -> list[RefundAttempt]:
    return [RefundAttempt(r.amount, RefundStatus(r.status)) for r in refunds]


@router.get("/payments", responses=problem_responses(401, 403, 422))
async def list_payments(
    principal: CurrentPrincipal,
    session: SessionDep,
    order_id: Annotated[
        str | None,
        Query(alias="orderId", min_length=1, max_length=64, pattern=domain.REFERENCE.pattern),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PaymentOut]:
    """An order's payments with their refunds (ops, or the order's user: others get an
    empty list); without ``orderId``, every payment (ops only)."""
    if order_id is None and not principal.is_ops:
        raise Forbidden("listing every payment needs the ops role; filter by orderId")
    rows = await _payments(session, order_id=order_id, user_id=_visible(principal), limit=limit)
    return [
        PaymentOut(
            id=p.id,
            order_id=p.order_id,
            user_id=p.user_id,
            payment_method_id=p.payment_method_id,
            amount=p.amount,
            currency=p.currency,
            status=p.status,
            code=p.code,
            reason=p.reason,
            refunded_amount=domain.totals([], _attempts(refunds)).refunded,
            refunds=[RefundOut.model_validate(r, from_attributes=True) for r in refunds],
            created_at=p.created_at,
        )
        for p, refunds in rows
    ]


@router.get("/payments/summary", responses=problem_responses(401, 422))
async def payment_summary(
    order_id: OrderIdQuery, principal: CurrentPrincipal, session: SessionDep
) -> PaymentSummary:
    """Captured minus refunded for one order (what ``oms audit`` checks)."""
    rows = await _payments(session, order_id=order_id, user_id=_visible(principal), limit=1000)
    totals = domain.totals(
        [(PaymentStatus(p.status), p.amount) for p, _ in rows],
        [a for _, refunds in rows for a in _attempts(refunds)],
    )
    return PaymentSummary(
        order_id=order_id,
        currency=rows[0][0].currency if rows else None,
        captured=totals.captured,
        refunded=totals.refunded,
        net=totals.net,
    )
