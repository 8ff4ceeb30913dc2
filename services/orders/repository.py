"""Loading orders with their items, history and shipments, the newest-first
listing, and the keys orders were placed under.

What every order placement and every saga command runs is SQL built once, with
no model object made for those rows: a placement's rows go with its unit of
work's commit (on PostgreSQL one statement with its outbox row, :func:`place`),
a command locks the order and moves its status on the session's connection.  A model instance costs more to construct
than its statement costs to run, and the ORM's unit of work (identity map, flush
ordering) more again; these run for every order, the reads below for a person
looking."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.domain import OrderStatus
from services.orders.models import (
    Order,
    OrderItem,
    OrderReturn,
    OrderReturnLine,
    PlacedUnderKey,
    Shipment,
    StatusChange,
)
from shared.persistence.outbox import UnitOfWork
from shared.web.cursor import Position

ORDERS = Order.__table__  # type: ignore[attr-defined]
ITEMS = OrderItem.__table__  # type: ignore[attr-defined]
HISTORY = StatusChange.__table__  # type: ignore[attr-defined]
KEYS = PlacedUnderKey.__table__  # type: ignore[attr-defined]

_LOCK_STATUS = (
    select_columns(ORDERS.c.status, ORDERS.c.cancel_reason)
    .where(ORDERS.c.id == bindparam("order_id"))
    .with_for_update()
)
_MOVE_STATUS = (
    update(ORDERS)
    .where(ORDERS.c.id == bindparam("order_id"))
    .values(status=bindparam("status"), updated_at=bindparam("at", type_=ORDERS.c.updated_at.type))
)
_MOVE = {
    # A cancellation keeps its reason; nothing else changes one.
    OrderStatus.CONFIRMED: _MOVE_STATUS,
    OrderStatus.SHIPPED: _MOVE_STATUS,
    OrderStatus.DELIVERED: _MOVE_STATUS,
    OrderStatus.CANCELLED: update(ORDERS)
    .where(ORDERS.c.id == bindparam("order_id"))
    .values(
        status=bindparam("status"),
        updated_at=bindparam("at", type_=ORDERS.c.updated_at.type),
        cancel_reason=bindparam("reason"),
    ),
}


@dataclass(frozen=True)
class Standing:
    """Where an order stands, as a saga command needs it."""

    order_id: str
    """Canonical (:func:`parse_order_id`)."""
    status: OrderStatus
    cancel_reason: str | None


def parse_order_id(value: str) -> str | None:
    """The canonical form of an order id, or None for text that cannot be one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


Row = TypeVar("Row", Order, OrderReturn)
Part = TypeVar("Part", OrderItem, StatusChange, OrderReturnLine)


async def row_by_id(
    session: AsyncSession, model: type[Row], row_id: str, *, lock: bool = False
) -> Row | None:
    """The order or return ``row_id`` names (None for text that cannot be an id),
    locked until the transaction ends with ``lock``."""
    canonical = parse_order_id(row_id)
    if canonical is None:
        return None
    query = select(model).where(model.id == canonical)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def parts_of(
    session: AsyncSession, model: type[Part], owner: str, owner_ids: Sequence[str], *order_by: Any
) -> dict[str, list[Part]]:
    """The ``model`` rows whose ``owner`` column (``order_id``, ``return_id``) is one of
    ``owner_ids``, by owner, each owner's in the order ``order_by`` gives."""
    found: dict[str, list[Part]] = defaultdict(list)
    if owner_ids:
        rows = await session.exec(
            select(model).where(col(getattr(model, owner)).in_(owner_ids)).order_by(*order_by)
        )
        for row in rows.all():
            found[getattr(row, owner)].append(row)
    return found


def place(
    uow: UnitOfWork,
    order: dict[str, Any],
    items: list[dict[str, Any]],
    key: dict[str, Any] | None,
) -> None:
    """Insert an order (its columns), its items, its first status and the key it
    was placed under (if any) with ``uow``'s commit; a key taken already makes the
    commit raise ``IntegrityError``."""
    uow.insert(ORDERS, [order])
    uow.insert(ITEMS, items)
    uow.insert(
        HISTORY, [{"order_id": order["id"], "status": order["status"], "at": order["created_at"]}]
    )
    if key is not None:
        uow.insert(KEYS, [key])


class Orders:
    """The orders' rows in one session.

    :meth:`lock_standing` takes a row lock on PostgreSQL so a confirm and a cancel
    for the same order cannot both read ``pending``; SQLite serialises writers anyway."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: str, *, lock: bool = False) -> Order | None:
        """The order, locked until the transaction ends with ``lock`` (on PostgreSQL: a
        customer's cancel and a warehouse's shipment of one order then take turns)."""
        return await row_by_id(self.session, Order, order_id, lock=lock)

    async def shipment(self, order_id: str) -> Shipment | None:
        """How the order ``order_id`` (canonical) was shipped, if it was."""
        return await self.session.get(Shipment, order_id)

    async def shipments(self, order_ids: Sequence[str]) -> dict[str, Shipment]:
        if not order_ids:
            return {}
        rows = await self.session.exec(
            select(Shipment).where(col(Shipment.order_id).in_(order_ids))
        )
        return {row.order_id: row for row in rows.all()}

    async def lock_standing(self, order_id: str) -> Standing | None:
        """The order's status, locked until the transaction ends (None: no such order)."""
        canonical = parse_order_id(order_id)
        if canonical is None:
            return None
        connection = await self.session.connection()
        row = (await connection.execute(_LOCK_STATUS, {"order_id": canonical})).first()
        if row is None:
            return None
        return Standing(canonical, OrderStatus(row.status), row.cancel_reason)

    async def move(
        self, uow: UnitOfWork, order_id: str, status: OrderStatus, reason: str | None, at: datetime
    ) -> None:
        """Set the status of the order ``order_id`` (canonical, locked) and its reason
        when cancelled; its history entry goes with ``uow``'s commit."""
        connection = await self.session.connection()
        await connection.execute(
            _MOVE[status], {"order_id": order_id, "status": status, "at": at, "reason": reason}
        )
        uow.insert(HISTORY, [{"order_id": order_id, "status": status, "reason": reason, "at": at}])

    async def placed_under(self, user_id: str, key: str) -> PlacedUnderKey | None:
        """What ``user_id`` placed under the idempotency key ``key``, if anything."""
        return await self.session.get(PlacedUnderKey, (user_id, key))

    async def items(self, order_ids: Sequence[str]) -> dict[str, list[OrderItem]]:
        return await parts_of(
            self.session,
            OrderItem,
            "order_id",
            order_ids,
            col(OrderItem.order_id),
            col(OrderItem.line_no),
        )

    async def history(self, order_ids: Sequence[str]) -> dict[str, list[StatusChange]]:
        return await parts_of(
            self.session, StatusChange, "order_id", order_ids, col(StatusChange.id)
        )

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
