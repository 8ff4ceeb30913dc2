"""The payments' message edge: ``payment.charge`` and ``payment.refund`` from the order
saga, ``payment.refund_return`` from the return saga (:mod:`services.payments.return_refund`).

Each runs its use case (:func:`services.payments.usecases.charge`,
:func:`~services.payments.usecases.refund`, where the rules of a repeated, late or
declined command are) in the endpoint's unit of work (inbox check, state change
and reply in one transaction), through the card gateway the service was built
with, and sends the answer it gives, correlated as the command was.  A command
naming an order or user no id can look like can never succeed and is
dead-lettered with that reason.

When the card provider cannot be heard (down, slower than every timeout and
retry: :class:`~services.payments.errors.ProviderUnavailable`), the use case
records nothing and the handler answers nothing: its transaction rolls back and
the command is delivered again, up to the delivery limit, then dead-lettered with
the reason.  An answer of either kind would be a guess about money: a
``payment.failed`` for a charge the provider may have captured would cancel a paid
order and keep the money; a ``payment.completed`` would confirm an order nobody
paid for.  Silence is what the saga already handles: past the step's deadline it
resends the command (the same order, so the same idempotency key: a charge that
did happen is found, never made twice) and then compensates with a refund; a
refund that cannot reach the provider is retried by the saga with backoff and then
the saga is ``failed`` for ops, who retry it once the provider is back.  Money
moves only on an answer the provider gave, and every answer it gave is found
again by its key.
"""

from __future__ import annotations

from functools import partial

from services.payments import usecases
from services.payments.errors import NotAReference
from services.payments.gateway import CardGateway
from services.payments.return_refund import refund_return
from shared.messages import ChargePayment, Message, RefundPayment, RefundReturn
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.persistence.outbox import UnitOfWork
from shared.replies import reply

DEAD_LETTERS = (NotAReference,)
"""The domain errors that make a command a dead letter: no retry can help it."""


async def charge(
    gateway: CardGateway, uow: UnitOfWork, message: ChargePayment, envelope: Envelope
) -> None:
    await reply(uow, envelope, usecases.charge(uow, gateway, message), dead_letters=DEAD_LETTERS)


async def refund(
    gateway: CardGateway, uow: UnitOfWork, message: RefundPayment, envelope: Envelope
) -> None:
    await reply(uow, envelope, usecases.refund(uow, gateway, message), dead_letters=DEAD_LETTERS)


async def refund_a_return(
    gateway: CardGateway, uow: UnitOfWork, message: RefundReturn, envelope: Envelope
) -> None:
    await reply(uow, envelope, _refund_return(uow, gateway, message), dead_letters=DEAD_LETTERS)


async def _refund_return(uow: UnitOfWork, gateway: CardGateway, message: RefundReturn) -> Message:
    usecases.check_ids(message.order_id, message.user_id)
    return await refund_return(uow, gateway, message)


def register(endpoint: Endpoint, gateway: CardGateway) -> None:
    """Route the payments' commands to their handlers, charging through ``gateway``."""
    endpoint.handles(ChargePayment)(partial(charge, gateway))
    endpoint.handles(RefundPayment)(partial(refund, gateway))
    endpoint.handles(RefundReturn)(partial(refund_a_return, gateway))
