"""Loading orders with their items and history, the newest-first listing, and the
keys orders were placed under."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.models import Order, OrderItem, PlacedUnderKey, StatusChange
from shared.web.cursor import Position


def parse_order_id(value: str) -> str | None:
    """The canonical form of an order id, or None for text that cannot be one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class Orders:
    """The orders' rows in one session.

    ``lock=True`` takes a row lock on PostgreSQL so a confirm and a cancel for
    the same order cannot both read ``pending``; SQLite serialises writers anyway."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Order | OrderItem | StatusChange | PlacedUnderKey) -> None:
        self.session.add(row)

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        canonical = parse_order_id(order_id)
        if canonical is None:
            return None
        stmt = select(Order).where(Order.id == canonical)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def placed_under(self, user_id: str, key: str) -> PlacedUnderKey | None:
        """What ``user_id`` placed under the idempotency key ``key``, if anything."""
        return await self.session.get(PlacedUnderKey, (user_id, key))

    async def items(self, order_ids: Sequence[str]) -> dict[str, list[OrderItem]]:
        found: dict[str, list[OrderItem]] = defaultdict(list)
        if order_ids:
            rows = await self.session.exec(
                select(OrderItem)
                .where(col(OrderItem.order_id).in_(order_ids))
                .order_by(col(OrderItem.order_id), col(OrderItem.line_no))
            )
            for row in rows.all():
                found[row.order_id].append(row)
        return found

    async def history(self, order_ids: Sequence[str]) -> dict[str, list[StatusChange]]:
        found: dict[str, list[StatusChange]] = defaultdict(list)
        if order_ids:
            rows = await self.session.exec(
                select(StatusChange)
                .where(col(StatusChange.order_id).in_(order_ids))
                .order_by(col(StatusChange.id))
            )
            for row in rows.all():
                found[row.order_id].append(row)
        return found

    async def newest_first(
        self,
        *,
        limit: int,
        user_id: str | None = None,
        status: str | None = None,
        after: Position | None = None,
    ) -> list[Order]:
        """Up to ``limit`` orders, newest first, strictly after ``after``."""
        stmt = select(Order)
        if user_id is not None:
            stmt = stmt.where(Order.user_id == user_id)
        if status is not None:
            stmt = stmt.where(Order.status == status)
        if after is not None:
            stmt = stmt.where(
                or_(
                    col(Order.created_at) < after.created_at,
                    and_(col(Order.created_at) == after.created_at, col(Order.id) < after.id),
                )
            )
        stmt = stmt.order_by(col(Order.created_at).desc(), col(Order.id).desc()).limit(limit)
        return list((await self.session.exec(stmt)).all())
