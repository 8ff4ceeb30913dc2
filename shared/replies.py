"""A domain service's answer to a command: its use case's result, sent in the unit of work."""

from __future__ import annotations

from collections.abc import Awaitable

from shared.messages import Message
from shared.messaging.envelope import Envelope
from shared.messaging.transport import dead_letter_on
from shared.persistence.outbox import UnitOfWork


async def reply(
    uow: UnitOfWork,
    envelope: Envelope,
    answer: Awaitable[Message],
    *,
    dead_letters: tuple[type[Exception], ...] = (),
) -> None:
    """Send what ``answer`` (a use case run on the command of ``envelope``) gives,
    correlated as the command was; a domain error in ``dead_letters`` (no retry can
    help it) dead-letters the command with the error's text as the reason."""
    with dead_letter_on(*dead_letters):
        message = await answer
    uow.send(message, correlation_id=envelope.correlation_id)
