"""The payments' message edge: ``payment.charge`` and ``payment.refund`` from the saga.

Each runs its use case (:func:`services.payments.usecases.charge`,
:func:`~services.payments.usecases.refund`, where the rules of a repeated, late or
declined command are) in the endpoint's unit of work (inbox check, state change
and reply in one transaction), through the card gateway the service was built
with, and sends the answer it gives, correlated as the command was.  A command
naming an order or user no id can look like can never succeed and is
dead-lettered with that reason.
"""

from __future__ import annotations

from functools import partial

from services.payments import usecases
from services.payments.errors import NotAReference
from services.payments.gateway import CardGateway
from shared.messages import ChargePayment, RefundPayment
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.transport import dead_letter_on
from shared.persistence.outbox import UnitOfWork

DEAD_LETTERS = (NotAReference,)
"""The domain errors that make a command a dead letter: no retry can help it."""


async def charge(
    gateway: CardGateway, uow: UnitOfWork, message: ChargePayment, envelope: Envelope
) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await usecases.charge(uow, gateway, message)
    uow.send(answer, correlation_id=envelope.correlation_id)


async def refund(
    gateway: CardGateway, uow: UnitOfWork, message: RefundPayment, envelope: Envelope
) -> None:
    with dead_letter_on(*DEAD_LETTERS):
        answer = await usecases.refund(uow, gateway, message)
    uow.send(answer, correlation_id=envelope.correlation_id)


def register(endpoint: Endpoint, gateway: CardGateway) -> None:
    """Route the payments' commands to their handlers, charging through ``gateway``."""
    endpoint.handles(ChargePayment)(partial(charge, gateway))
    endpoint.handles(RefundPayment)(partial(refund, gateway))
