"""Marking an order delivered straight in the orders' tables, for the return tests:
what the warehouse's delivery will do through the orders service (the status
``delivered`` and its entry in the status history, which dates the return window)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from services.orders.models import Order, StatusChange
from shared.clock import utcnow
from shared.persistence.database import Database
from tests.support.system import System


async def mark_delivered(system: System, order_id: str, *, at: datetime | None = None) -> None:
    """``order_id`` delivered ``at`` (now by default)."""
    when = at or utcnow()
    database: Database = system.apps["orders"].state.service.db
    async with database.sessions() as session:
        await session.exec(
            update(Order)
            .where(Order.id == order_id)  # type: ignore[arg-type]
            .values(status="delivered", updated_at=when)
        )
        session.add(StatusChange(order_id=order_id, status="delivered", at=when))
        await session.commit()
