"""Putting a return's goods back on the shelf (``inventory.restock`` from the return saga).

The units received come back onto the shelf: ``on_hand`` grows by them, so they
are available again (the order's reservation is left as it was: what it held
left the warehouse and this is new stock).  Once per return: the ``restocks`` row
of the return is the proof, and a repeated command is answered with its items.
A product no longer in the catalogue is not restocked, and the answer leaves it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from services.inventory.errors import RestockNotFound
from services.inventory.models import Product, Restock
from services.inventory.repository import add_units
from services.inventory.schemas import ReservedLine, RestockOut
from shared.clock import utcnow
from shared.messages import InventoryRestocked, ReservedItem
from shared.persistence.outbox import UnitOfWork
from shared.service import Service

_ADD_ON_HAND = add_units("on_hand")


async def restock(
    uow: UnitOfWork, return_id: str, order_id: str, items: Sequence[ReservedItem]
) -> InventoryRestocked:
    session = uow.session
    done = await session.get(Restock, return_id, with_for_update=True)
    if done is None:
        wanted = sorted(items, key=lambda item: item.product_id)
        known = set(
            (
                await session.exec(
                    select(Product.id).where(col(Product.id).in_([i.product_id for i in wanted]))
                )
            ).all()
        )
        put_back = [item for item in wanted if item.product_id in known]
        now = utcnow()
        if put_back:
            connection = await session.connection()
            await connection.execute(
                _ADD_ON_HAND,
                [{"product_id": i.product_id, "units": i.quantity, "at": now} for i in put_back],
            )
        done = Restock(
            return_id=return_id,
            order_id=order_id,
            items=[i.dump() for i in put_back],
            created_at=now,
        )
        session.add(done)
    return InventoryRestocked(
        return_id=return_id,
        order_id=done.order_id,
        items=[ReservedItem.model_validate(i) for i in done.items],
    )


async def get_restock(service: Service, return_id: str) -> RestockOut:
    """What was put back for a return (for ops and the audit)."""
    async with service.db.reads() as session:
        done = await session.get(Restock, return_id) if "\x00" not in return_id else None
    if done is None:
        raise RestockNotFound(return_id)
    return RestockOut(
        return_id=done.return_id,
        order_id=done.order_id,
        items=[ReservedLine.model_validate(item) for item in done.items],
        created_at=done.created_at,
    )
