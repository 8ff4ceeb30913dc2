"""Loading and locking the payments' rows inside a session: saved methods,
payments with their refunds, and the per-order record every charge and refund locks.

What every charge and refund command runs (lock the order's record, read its
payment and refund attempts, record the outcome) is SQL built once, executed on
the session's connection, with no model object made for those rows: that path
runs for every order, the ORM's reads below for a person looking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.domain import PaymentStatus, RefundAttempt, RefundStatus, is_uuid
from services.payments.models import Payment, PaymentMethod, PaymentOrder, Refund

ORDERS = PaymentOrder.__table__  # type: ignore[attr-defined]
PAYMENTS = Payment.__table__  # type: ignore[attr-defined]
REFUNDS = Refund.__table__  # type: ignore[attr-defined]

_OPEN_ORDER = {
    "postgresql": postgresql.insert(ORDERS).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(ORDERS).on_conflict_do_nothing(),
}
_LOCK_ORDER = (
    select_columns(ORDERS.c.refund_requested_at)
    .where(ORDERS.c.order_id == bindparam("payment_order"))
    .with_for_update()
)
_MARK_REFUND_REQUESTED = (
    update(ORDERS)
    .where(ORDERS.c.order_id == bindparam("payment_order"))
    .values(refund_requested_at=bindparam("at", type_=ORDERS.c.refund_requested_at.type))
)
_PAYMENT_OF_ORDER = select_columns(
    PAYMENTS.c.id,
    PAYMENTS.c.order_id,
    PAYMENTS.c.amount,
    PAYMENTS.c.status,
    PAYMENTS.c.charge_ref,
    PAYMENTS.c.code,
    PAYMENTS.c.reason,
).where(PAYMENTS.c.order_id == bindparam("payment_order"))
_ATTEMPTS = (
    select_columns(REFUNDS.c.amount, REFUNDS.c.status)
    .where(REFUNDS.c.payment_id == bindparam("payment"))
    .order_by(REFUNDS.c.attempt)
)
_INSERT_PAYMENT = insert(PAYMENTS)
_INSERT_REFUND = insert(REFUNDS)
_MARK_REFUNDED = (
    update(PAYMENTS)
    .where(PAYMENTS.c.id == bindparam("payment"))
    .values(
        status=PaymentStatus.REFUNDED,
        updated_at=bindparam("at", type_=PAYMENTS.c.updated_at.type),
    )
)


@dataclass(frozen=True)
class Charged:
    """An order's payment, as a command needs it."""

    id: str
    order_id: str
    amount: int
    status: PaymentStatus
    charge_ref: str | None
    code: str | None
    reason: str | None


class Payments:
    """The payments' rows in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: PaymentMethod) -> None:
        self.session.add(row)

    async def lock_order(self, order_id: str, at: datetime) -> datetime | None:
        """Lock the order's record (created now if new) until the transaction ends;
        when its first refund was asked for (None: never).

        Every charge and refund of one order takes this lock first, so a charge and a
        refund arriving together cannot interleave (a refund finding nothing while a
        charge is still capturing would leak the money).  On SQLite every write
        transaction is serialised anyway (``BEGIN IMMEDIATE``)."""
        connection = await self.session.connection()
        await connection.execute(
            _OPEN_ORDER[connection.dialect.name], {"order_id": order_id, "created_at": at}
        )
        row = (await connection.execute(_LOCK_ORDER, {"payment_order": order_id})).one()
        refund_requested_at: datetime | None = row.refund_requested_at
        return refund_requested_at

    async def mark_refund_requested(self, order_id: str, at: datetime) -> None:
        """The tombstone of a locked order's record: no charge may capture after this."""
        connection = await self.session.connection()
        await connection.execute(_MARK_REFUND_REQUESTED, {"payment_order": order_id, "at": at})

    async def charged(self, order_id: str) -> Charged | None:
        """The order's payment, if it has one."""
        connection = await self.session.connection()
        row = (await connection.execute(_PAYMENT_OF_ORDER, {"payment_order": order_id})).first()
        if row is None:
            return None
        return Charged(
            row.id,
            row.order_id,
            row.amount,
            PaymentStatus(row.status),
            row.charge_ref,
            row.code,
            row.reason,
        )

    async def attempts(self, payment_id: str) -> list[RefundAttempt]:
        """The refund attempts of a payment, first first."""
        connection = await self.session.connection()
        rows = await connection.execute(_ATTEMPTS, {"payment": payment_id})
        return [RefundAttempt(r.amount, RefundStatus(r.status)) for r in rows]

    async def record_payment(self, payment: dict[str, Any]) -> None:
        connection = await self.session.connection()
        await connection.execute(_INSERT_PAYMENT, payment)

    async def record_refund(self, refund: dict[str, Any]) -> None:
        connection = await self.session.connection()
        await connection.execute(_INSERT_REFUND, refund)

    async def mark_refunded(self, payment_id: str, at: datetime) -> None:
        connection = await self.session.connection()
        await connection.execute(_MARK_REFUNDED, {"payment": payment_id, "at": at})

    async def refunds_of(self, payment_ids: Sequence[str]) -> list[Refund]:
        """The refunds of these payments, by payment and attempt."""
        if not payment_ids:
            return []
        stmt = (
            select(Refund)
            .where(col(Refund.payment_id).in_(payment_ids))
            .order_by(col(Refund.payment_id), col(Refund.attempt))
        )
        return list((await self.session.exec(stmt)).all())

    async def with_refunds(
        self, *, order_id: str | None, user_id: str | None, limit: int, offset: int = 0
    ) -> list[tuple[Payment, list[Refund]]]:
        """Up to ``limit`` payments from ``offset``, oldest first, each with its refunds;
        only ``order_id``'s and only ``user_id``'s when given."""
        stmt = (
            select(Payment)
            .order_by(col(Payment.created_at), col(Payment.id))
            .limit(limit)
            .offset(offset)
        )
        if order_id is not None:
            stmt = stmt.where(Payment.order_id == order_id)
        if user_id is not None:
            stmt = stmt.where(Payment.user_id == user_id)
        payments = list((await self.session.exec(stmt)).all())
        by_payment: dict[str, list[Refund]] = defaultdict(list)
        for refund in await self.refunds_of([p.id for p in payments]):
            by_payment[refund.payment_id].append(refund)
        return [(p, by_payment[p.id]) for p in payments]

    async def methods(self, user_id: str) -> list[PaymentMethod]:
        """The user's saved payment methods in the order they were saved."""
        stmt = (
            select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id)
            .order_by(col(PaymentMethod.created_at), col(PaymentMethod.id))
        )
        return list((await self.session.exec(stmt)).all())

    async def method(self, method_id: str) -> PaymentMethod | None:
        """A saved payment method (their ids are UUIDs: anything else is none)."""
        return await self.session.get(PaymentMethod, method_id) if is_uuid(method_id) else None
