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

from services.inventory import usecases
from services.inventory.restock import restock as restock_return
from shared.messages import ReleaseInventory, ReserveInventory, RestockReturn
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.persistence.outbox import UnitOfWork

DEAD_LETTERS: tuple[type[Exception], ...] = ()
"""No command is ever refused."""


async def reserve(uow: UnitOfWork, message: ReserveInventory, envelope: Envelope) -> None:
    answer = await usecases.reserve(uow, message.order_id, message.items)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def release(uow: UnitOfWork, message: ReleaseInventory, envelope: Envelope) -> None:
    answer = await usecases.release(uow, message.order_id)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def restock(uow: UnitOfWork, message: RestockReturn, envelope: Envelope) -> None:
    answer = await restock_return(uow, message.return_id, message.order_id, message.items)
    uow.send(answer, correlation_id=envelope.correlation_id)


def register(endpoint: Endpoint) -> None:
    """Route the inventory's commands to their handlers."""
    endpoint.handles(ReserveInventory)(reserve)
    endpoint.handles(ReleaseInventory)(release)
    endpoint.handles(RestockReturn)(restock)
