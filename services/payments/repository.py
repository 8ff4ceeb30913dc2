"""Loading and locking payments' records inside a session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.domain import is_uuid
from services.payments.gateway import TEST_CARDS
from services.payments.models import Payment, PaymentMethod, PaymentOrder, Refund, utcnow


async def lock_order(session: AsyncSession, order_id: str) -> PaymentOrder:
    """The order's record, created if new and locked until the transaction ends.

    Every charge and refund of one order takes this lock first, so a charge and a
    refund arriving together cannot interleave (a refund finding nothing while a
    charge is still capturing would leak the money).  On SQLite every write
    transaction is serialised anyway (``BEGIN IMMEDIATE``)."""
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


async def payment_of_order(session: AsyncSession, order_id: str) -> Payment | None:
    return (await session.exec(select(Payment).where(Payment.order_id == order_id))).first()


async def refunds_of(session: AsyncSession, payment_ids: Sequence[str]) -> list[Refund]:
    if not payment_ids:
        return []
    stmt = (
        select(Refund)
        .where(col(Refund.payment_id).in_(payment_ids))
        .order_by(col(Refund.payment_id), col(Refund.attempt))
    )
    return list((await session.exec(stmt)).all())


async def card_token(session: AsyncSession, payment_method_id: str, user_id: str) -> str | None:
    """The gateway token to charge for ``payment_method_id`` on behalf of ``user_id``.

    A test card id is its own token; a saved method gives its token only to its
    owner (charging another user's saved card is refused as unknown)."""
    if payment_method_id in TEST_CARDS:
        return payment_method_id
    if not is_uuid(payment_method_id):  # saved methods have UUIDs: anything else is unknown
        return None
    method = await session.get(PaymentMethod, payment_method_id)
    if method is None or method.user_id != user_id:
        return None
    return method.token
