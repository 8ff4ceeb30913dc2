"""Loading and locking the inventory's rows the way its rules need them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.models import Product, Reservation


def parse_product_id(value: str) -> str | None:
    """The canonical form of a product id, or None for text that cannot be one
    (so a malformed id is a plain 404 and never reaches the database)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class Inventory:
    """The inventory's rows in one session.

    ``lock=True`` takes row locks (``SELECT … FOR UPDATE``) on PostgreSQL; on
    SQLite every write transaction already holds the database's write lock
    (``BEGIN IMMEDIATE``), so there the clause is a no-op."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Product | Reservation) -> None:
        self.session.add(row)

    async def product(self, product_id: str, *, lock: bool = False) -> Product | None:
        canonical = parse_product_id(product_id)
        if canonical is None:
            return None
        stmt = select(Product).where(Product.id == canonical)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

    async def products_for_update(self, product_ids: Iterable[str]) -> dict[str, Product]:
        """The known products among ``product_ids``, locked in id order so two
        orders locking overlapping products can never deadlock."""
        ids = sorted({pid for pid in product_ids if "\x00" not in pid})
        if not ids:
            return {}
        stmt = (
            select(Product)
            .where(col(Product.id).in_(ids))
            .order_by(col(Product.id))
            .with_for_update()
        )
        return {p.id: p for p in (await self.session.exec(stmt)).all()}

    async def by_sku(self, sku: str) -> Product | None:
        return (await self.session.exec(select(Product).where(Product.sku == sku))).first()

    async def page(
        self, *, limit: int, offset: int, product_ids: list[str] | None = None
    ) -> tuple[list[Product], int]:
        """One page of products ordered by sku, and how many there are in all."""
        stmt = select(Product)
        count = select(func.count()).select_from(Product)
        if product_ids is not None:
            ids = [c for c in (parse_product_id(p) for p in product_ids) if c is not None]
            stmt = stmt.where(col(Product.id).in_(ids))
            count = count.where(col(Product.id).in_(ids))
        rows = await self.session.exec(stmt.order_by(col(Product.sku)).limit(limit).offset(offset))
        total = (await self.session.exec(count)).one()
        return list(rows.all()), int(total)

    async def reservations(self, *, limit: int, offset: int) -> list[Reservation]:
        """A page of every reservation, oldest first."""
        stmt = (
            select(Reservation)
            .order_by(col(Reservation.created_at), col(Reservation.order_id))
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.exec(stmt)).all())

    async def reservation(self, order_id: str, *, lock: bool = False) -> Reservation | None:
        if "\x00" in order_id:  # PostgreSQL text cannot hold NUL: no such order
            return None
        stmt = select(Reservation).where(Reservation.order_id == order_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()
