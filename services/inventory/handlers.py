"""The inventory's message edge: ``inventory.reserve`` and ``inventory.release``
from the order saga, ``inventory.restock`` from the return saga
(:mod:`services.inventory.restock`).

Each runs its use case (:func:`services.inventory.usecases.reserve`,
:func:`~services.inventory.usecases.release`, where the rules of a repeated or late
command are) in the endpoint's unit of work (inbox check, state change and reply
in one transaction) and sends the answer it gives, correlated as the command was.
Neither refuses a command: an unknown product is short of stock.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.inventory import usecases
from services.inventory.repository import Inventory
from services.inventory.restock import restock as restock_return
from shared.messages import Message, ReleaseInventory, ReserveInventory, RestockReturn
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.persistence.outbox import UnitOfWork
from shared.replies import reply

DEAD_LETTERS: tuple[type[Exception], ...] = ()
"""No command is ever refused."""


async def reserve(uow: UnitOfWork, message: ReserveInventory, envelope: Envelope) -> None:
    await reply(uow, envelope, usecases.reserve(uow, message.order_id, message.items))


async def release(uow: UnitOfWork, message: ReleaseInventory, envelope: Envelope) -> None:
    await reply(uow, envelope, usecases.release(uow, message.order_id))


async def restock(uow: UnitOfWork, message: RestockReturn, envelope: Envelope) -> None:
    await reply(
        uow, envelope, restock_return(uow, message.return_id, message.order_id, message.items)
    )


async def lock_batch(uow: UnitOfWork, messages: Sequence[Message]) -> None:
    """Before a batch's handlers run, the rows they lock, in the order each handler
    alone locks them: the orders' reservations by order id, then the products by id.
    Two replicas' batches with products in common then wait for each other instead of
    deadlocking (a deadlock costs the whole batch, handled again one by one)."""
    inventory = Inventory(uow.session)
    held = await inventory.lock_all_held(
        m.order_id for m in messages if isinstance(m, (ReserveInventory, ReleaseInventory))
    )
    products = {
        item.product_id
        for m in messages
        if isinstance(m, (ReserveInventory, RestockReturn))
        for item in m.items
    }
    await inventory.lock_stock(products | {line.product_id for h in held for line in h.lines})


def register(endpoint: Endpoint) -> None:
    """Route the inventory's commands to their handlers."""
    endpoint.batch_locks = lock_batch
    endpoint.handles(ReserveInventory)(reserve)
    endpoint.handles(ReleaseInventory)(release)
    endpoint.handles(RestockReturn)(restock)
