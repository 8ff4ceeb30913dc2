"""The orders' message edge: ``order.confirm`` and ``order.cancel`` from the order
saga, ``return.expire`` and ``return.close`` from the return saga.

Each runs its use case (:func:`services.orders.usecases.confirm`,
:func:`~services.orders.usecases.cancel`) in the endpoint's unit of work and sends
the answer it gives, correlated as the command was.  Both are idempotent: a
repeated command changes nothing and is answered again with the event that
describes the order now.  A command for an order that does not exist can never
succeed and is dead-lettered with that reason.
"""

from __future__ import annotations

from services.orders import returns, usecases
from services.orders.errors import OrderNotFound, ReturnNotFound
from shared.messages import CancelOrder, CloseReturn, ConfirmOrder, ExpireReturn
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.transport import dead_letter_on
from shared.persistence.outbox import UnitOfWork

DEAD_LETTERS = (OrderNotFound, ReturnNotFound)
"""The domain errors that make a command a dead letter: no retry can help it."""


async def confirm(uow: UnitOfWork, message: ConfirmOrder, envelope: Envelope) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await usecases.confirm(uow, message.order_id)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def cancel(uow: UnitOfWork, message: CancelOrder, envelope: Envelope) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await usecases.cancel(uow, message.order_id, message.reason)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def expire_return(uow: UnitOfWork, message: ExpireReturn, envelope: Envelope) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await returns.expire(uow, message.return_id)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def close_return(uow: UnitOfWork, message: CloseReturn, envelope: Envelope) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await returns.close(uow, message.return_id, message.refunded_amount)
    uow.send(answer, correlation_id=envelope.correlation_id)


def register(endpoint: Endpoint) -> None:
    """Route the orders' commands to their handlers."""
    endpoint.handles(ConfirmOrder)(confirm)
    endpoint.handles(CancelOrder)(cancel)
    endpoint.handles(ExpireReturn)(expire_return)
    endpoint.handles(CloseReturn)(close_return)
