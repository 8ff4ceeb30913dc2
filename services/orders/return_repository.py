"""The returns' rows: a return with its lines, the lines other returns of an order
hold, and when an order was delivered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.models import Order, OrderReturn, OrderReturnLine, StatusChange
from services.orders.repository import parts_of, row_by_id
from services.orders.return_rules import DELIVERED, Held, ReturnStatus


class Returns:
    """The returns' rows in one session; :meth:`lock` and :meth:`lock_order` take row
    locks on PostgreSQL (SQLite serialises writers anyway)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: str) -> Order | None:
        """The order, locked: two returns of one order are checked one after the other."""
        return await row_by_id(self.session, Order, order_id, lock=True)

    async def delivered_at(self, order_id: str) -> datetime | None:
        """When the order was last marked delivered (its status history says)."""
        stmt = (
            select(StatusChange.at)
            .where(StatusChange.order_id == order_id, StatusChange.status == DELIVERED)
            .order_by(col(StatusChange.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def held(self, order_id: str) -> list[Held]:
        stmt = (
            select(OrderReturnLine, OrderReturn.status)
            .join(OrderReturn, col(OrderReturn.id) == col(OrderReturnLine.return_id))
            .where(OrderReturn.order_id == order_id)
        )
        return [
            Held(line.product_id, ReturnStatus(status), line.quantity, line.received_quantity)
            for line, status in (await self.session.exec(stmt)).all()
        ]

    async def get(self, return_id: str, *, lock: bool = False) -> OrderReturn | None:
        return await row_by_id(self.session, OrderReturn, return_id, lock=lock)

    async def of_order(self, order_id: str) -> list[OrderReturn]:
        stmt = (
            select(OrderReturn)
            .where(OrderReturn.order_id == order_id)
            .order_by(col(OrderReturn.created_at), col(OrderReturn.id))
        )
        return list((await self.session.exec(stmt)).all())

    async def lines(self, return_ids: Sequence[str]) -> dict[str, list[OrderReturnLine]]:
        return await parts_of(
            self.session,
            OrderReturnLine,
            "return_id",
            return_ids,
            col(OrderReturnLine.product_id),
        )

    def add(self, row: OrderReturn, lines: Sequence[OrderReturnLine]) -> None:
        self.session.add(row)
        self.session.add_all(lines)
