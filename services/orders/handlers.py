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

from collections.abc import Awaitable

from services.orders import returns, usecases
from services.orders.errors import OrderNotFound, ReturnNotFound
from shared.messages import CancelOrder, CloseReturn, ConfirmOrder, ExpireReturn, Message
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.transport import dead_letter_on
from shared.persistence.outbox import UnitOfWork

DEAD_LETTERS = (OrderNotFound, ReturnNotFound)
"""The domain errors that make a command a dead letter: no retry can help it."""


async def confirm(uow: UnitOfWork, message: ConfirmOrder, envelope: Envelope) -> None:
    await _answer(uow, envelope, usecases.confirm(uow, message.order_id))


async def cancel(uow: UnitOfWork, message: CancelOrder, envelope: Envelope) -> None:
    await _answer(uow, envelope, usecases.cancel(uow, message.order_id, message.reason))


async def expire_return(uow: UnitOfWork, message: ExpireReturn, envelope: Envelope) -> None:
    await _answer(uow, envelope, returns.expire(uow, message.return_id))


async def close_return(uow: UnitOfWork, message: CloseReturn, envelope: Envelope) -> None:
    await _answer(uow, envelope, returns.close(uow, message.return_id, message.refunded_amount))


async def _answer(uow: UnitOfWork, envelope: Envelope, use_case: Awaitable[Message]) -> None:
    """Run the command's use case (a dead letter for :data:`DEAD_LETTERS`) and send its
    answer, correlated as the command was."""
    with dead_letter_on(*DEAD_LETTERS):
        answer = await use_case
    uow.send(answer, correlation_id=envelope.correlation_id)


def register(endpoint: Endpoint) -> None:
    """Route the orders' commands to their handlers."""
    endpoint.handles(ConfirmOrder)(confirm)
    endpoint.handles(CancelOrder)(cancel)
    endpoint.handles(ExpireReturn)(expire_return)
    endpoint.handles(CloseReturn)(close_return)
