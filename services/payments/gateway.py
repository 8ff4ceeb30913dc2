"""The card gateway port: what payments asks of a card provider, and what it hears back.

Payments talks to the provider only through :class:`CardGateway`;
:class:`~services.payments.provider_client.CardProviderClient` is the one OMS runs
with (HTTP to the card provider component).  Like real providers, the gateway
takes an idempotency key on every call that moves money: a call repeated with
the same key (a retry after a timeout, a redelivered command whose first attempt
crashed after charging but before committing) returns the first answer and moves
no money twice.

A refused charge or refund is an answer (:meth:`GatewayResult.refused`, with the
provider's code: ``card_declined``, ``refund_declined``, ``invalid_payment_method``,
``invalid_amount``, ``unknown_charge``, ``voided``); a provider that cannot be
heard is not: the gateway raises
:class:`~services.payments.errors.ProviderUnavailable` (no answer after every
attempt: down, too slow, 5xx), and since nothing is known, nothing may be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Card:
    """What a test card looks like to a customer."""

    brand: str
    last4: str


@dataclass(frozen=True)
class GatewayResult:
    """A gateway's answer: a reference for what it did, or why it refused."""

    ok: bool
    reference: str | None = None
    """The provider's id of the charge or refund (needed to refund a charge)."""
    amount: int | None = None
    """What the provider captured or paid back, when it says."""
    code: str | None = None
    reason: str | None = None

    @classmethod
    def approved(cls, reference: str, amount: int | None = None) -> GatewayResult:
        return cls(ok=True, reference=reference, amount=amount)

    @classmethod
    def refused(cls, code: str, reason: str) -> GatewayResult:
        return cls(ok=False, code=code, reason=reason)


class CardGateway(Protocol):
    """A card provider: charge a tokenised card, refund a charge, settle a lost charge."""

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    async def refund(self, charge_ref: str, amount: int, idempotency_key: str) -> GatewayResult: ...

    async def void(self, charge_key: str) -> GatewayResult:
        """The charge sent with ``charge_key``, whose answer was never heard: approved
        (its reference and amount) if the provider captured it; refused otherwise,
        and then no charge with that key can capture any more."""
        ...

    async def test_card(self, token: str) -> Card | None:
        """The test card ``token`` names (usable by everyone), or None."""
        ...

    async def aclose(self) -> None: ...
