"""Loading and locking the payments' rows inside a session: saved methods,
payments with their refunds, and the per-order record every charge and refund locks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.domain import is_uuid
from services.payments.models import Payment, PaymentMethod, PaymentOrder, Refund
from shared.clock import utcnow


class Payments:
    """The payments' rows in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Payment | PaymentMethod | PaymentOrder | Refund) -> None:
        self.session.add(row)

    async def lock_order(self, order_id: str) -> PaymentOrder:
        """The order's record, created if new and locked until the transaction ends.

        Every charge and refund of one order takes this lock first, so a charge and a
        refund arriving together cannot interleave (a refund finding nothing while a
        charge is still capturing would leak the money).  On SQLite every write
        transaction is serialised anyway (``BEGIN IMMEDIATE``)."""
        session = self.session
        table = PaymentOrder.__table__  # type: ignore[attr-defined]
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        await session.exec(
            insert.values(order_id=order_id, created_at=utcnow()).on_conflict_do_nothing()
        )
        stmt = select(PaymentOrder).where(PaymentOrder.order_id == order_id).with_for_update()
        # populate_existing: the row may be in the identity map from before the lock.
        record = (await session.exec(stmt.execution_options(populate_existing=True))).one()
        return record

    async def payment_of_order(self, order_id: str) -> Payment | None:
        stmt = select(Payment).where(Payment.order_id == order_id)
        return (await self.session.exec(stmt)).first()

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
        self, *, order_id: str | None, user_id: str | None, limit: int
    ) -> list[tuple[Payment, list[Refund]]]:
        """Up to ``limit`` payments, oldest first, each with its refunds; only
        ``order_id``'s and only ``user_id``'s when given."""
        stmt = select(Payment).order_by(col(Payment.created_at), col(Payment.id)).limit(limit)
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
