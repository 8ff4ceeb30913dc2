"""Loading and locking the inventory's rows the way its rules need them.

What every reservation command runs (lock the order's reservation and the
products' stock, move the reserved units, record the reservation) is SQL built
once, executed on the session's connection, with no model object made for those
rows: that path runs twice per order, the ORM's reads below for a person looking.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, Update, any_, bindparam, func, insert, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.domain import Line, ReservationStatus
from services.inventory.models import Product, Reservation

PRODUCTS = Product.__table__  # type: ignore[attr-defined]
RESERVATIONS = Reservation.__table__  # type: ignore[attr-defined]

_STOCK = select_columns(
    PRODUCTS.c.id,
    PRODUCTS.c.name,
    PRODUCTS.c.price,
    PRODUCTS.c.currency,
    PRODUCTS.c.on_hand,
    PRODUCTS.c.reserved,
).order_by(PRODUCTS.c.id)
_STOCK_FOR_UPDATE = {
    # On PostgreSQL one statement text whatever the count (an array), so it is prepared once.
    "postgresql": _STOCK.where(
        PRODUCTS.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
    ).with_for_update(),
    "sqlite": _STOCK.where(PRODUCTS.c.id.in_(bindparam("ids", expanding=True))),
}


def add_units(counter: str) -> Update:
    """``units`` added to the product's ``counter`` (``reserved``, ``on_hand``), the
    product updated ``at``; parameters ``product_id``, ``units``, ``at``."""
    column = PRODUCTS.c[counter]
    return (
        update(PRODUCTS)
        .where(PRODUCTS.c.id == bindparam("product_id"))
        .values(
            {
                counter: column + bindparam("units", type_=column.type),
                "updated_at": bindparam("at", type_=PRODUCTS.c.updated_at.type),
            }
        )
    )


_MOVE_RESERVED = add_units("reserved")
_RESERVATION = select_columns(
    RESERVATIONS.c.order_id,
    RESERVATIONS.c.status,
    RESERVATIONS.c["items"],
    RESERVATIONS.c.shortages,
)
_RESERVATION_FOR_UPDATE = _RESERVATION.where(
    RESERVATIONS.c.order_id == bindparam("reservation")
).with_for_update()
_RESERVATIONS_FOR_UPDATE = (
    _RESERVATION.where(
        RESERVATIONS.c.order_id == any_(bindparam("orders", type_=postgresql.ARRAY(String)))
    )
    .order_by(RESERVATIONS.c.order_id)
    .with_for_update()
)
"""PostgreSQL only: SQLite locks the whole database for a writer, so needs no row locks."""
_INSERT_RESERVATION = insert(RESERVATIONS)
_CLOSE_RESERVATION = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.order_id == bindparam("reservation"))
    .values(
        status=ReservationStatus.RELEASED,
        items=bindparam("items", type_=RESERVATIONS.c["items"].type),
        updated_at=bindparam("at", type_=RESERVATIONS.c.updated_at.type),
    )
)


@dataclass(frozen=True)
class Stock:
    """A product's price and stock, as a reservation needs them."""

    product_id: str
    price: int
    currency: str
    available: int
    name: str


@dataclass(frozen=True)
class Held:
    """An order's reservation, as a command finds it (``items`` and ``shortages`` in
    the message catalogue's JSON shape)."""

    order_id: str
    status: ReservationStatus
    items: list[dict[str, Any]]
    shortages: list[dict[str, Any]]

    @property
    def lines(self) -> list[Line]:
        return [Line(i["productId"], int(i["quantity"])) for i in self.items]


def parse_product_id(value: str) -> str | None:
    """The canonical form of a product id, or None for text that cannot be one
    (so a malformed id is a plain 404 and never reaches the database)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class Inventory:
    """The inventory's rows in one session.

    ``lock=True`` and the ``lock_…`` methods take row locks (``SELECT … FOR
    UPDATE``) on PostgreSQL; on SQLite every write transaction already holds the
    database's write lock (``BEGIN IMMEDIATE``), so there the clause is a no-op."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Product) -> None:
        self.session.add(row)

    async def product(self, product_id: str, *, lock: bool = False) -> Product | None:
        canonical = parse_product_id(product_id)
        if canonical is None:
            return None
        stmt = select(Product).where(Product.id == canonical)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).first()

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

    async def lock_stock(self, product_ids: Iterable[str]) -> dict[str, Stock]:
        """The known products among ``product_ids``, locked in id order so two
        orders locking overlapping products can never deadlock."""
        ids = sorted({pid for pid in product_ids if "\x00" not in pid})
        if not ids:
            return {}
        connection = await self.session.connection()
        rows = await connection.execute(_STOCK_FOR_UPDATE[connection.dialect.name], {"ids": ids})
        return {
            r.id: Stock(r.id, r.price, r.currency, r.on_hand - r.reserved, r.name)
            for r in rows.all()
        }

    async def move_reserved(self, lines: Sequence[Line], *, sign: int, at: datetime) -> None:
        """Reserve (``sign=1``) or give back (``sign=-1``) each line's units, updating
        the products in id order (the order :meth:`lock_stock` locks them in)."""
        if not lines:
            return
        connection = await self.session.connection()
        await connection.execute(
            _MOVE_RESERVED,
            [
                {"product_id": line.product_id, "units": sign * line.quantity, "at": at}
                for line in sorted(lines, key=lambda line: line.product_id)
            ],
        )

    async def lock_held(self, order_id: str) -> Held | None:
        """The order's reservation, locked until the transaction ends (None: none yet)."""
        if "\x00" in order_id:  # PostgreSQL text cannot hold NUL: no such order
            return None
        connection = await self.session.connection()
        row = (await connection.execute(_RESERVATION_FOR_UPDATE, {"reservation": order_id})).first()
        if row is None:
            return None
        return Held(row.order_id, ReservationStatus(row.status), row.items, row.shortages)

    async def lock_all_held(self, order_ids: Iterable[str]) -> list[Held]:
        """The reservations of ``order_ids`` that exist, locked in order id order (on
        PostgreSQL; SQLite's one writer needs no row locks)."""
        ids = sorted({o for o in order_ids if "\x00" not in o})
        connection = await self.session.connection()
        if not ids or connection.dialect.name != "postgresql":
            return []
        rows = await connection.execute(_RESERVATIONS_FOR_UPDATE, {"orders": ids})
        return [
            Held(r.order_id, ReservationStatus(r.status), r.items, r.shortages) for r in rows.all()
        ]

    async def record(self, held: Held, at: datetime) -> None:
        """Insert a new reservation; a concurrent first one for the same order makes
        this raise ``IntegrityError``."""
        connection = await self.session.connection()
        await connection.execute(
            _INSERT_RESERVATION,
            {
                "order_id": held.order_id,
                "status": held.status,
                "items": held.items,
                "shortages": held.shortages,
                "created_at": at,
                "updated_at": at,
            },
        )

    async def close(self, order_id: str, items: list[dict[str, Any]], at: datetime) -> None:
        """Mark the order's reservation released, holding ``items`` from now on."""
        connection = await self.session.connection()
        await connection.execute(
            _CLOSE_RESERVATION, {"reservation": order_id, "items": items, "at": at}
        )

    async def reservation(self, order_id: str) -> Reservation | None:
        if "\x00" in order_id:  # PostgreSQL text cannot hold NUL: no such order
            return None
        stmt = select(Reservation).where(Reservation.order_id == order_id)
        return (await self.session.exec(stmt)).first()
