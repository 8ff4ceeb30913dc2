"""A card gateway for the handler benchmark: it approves every charge and refund at
once, without I/O, so the figures are the cost of the handlers alone."""

from __future__ import annotations

from card_provider.cards import TEST_CARDS
from services.payments.gateway import Card, GatewayResult


class ApprovingGateway:
    """A card gateway approving every charge and refund at once, without I/O."""

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        return GatewayResult.approved(f"ch_{idempotency_key}", amount)

    async def refund(self, charge_ref: str, amount: int, idempotency_key: str) -> GatewayResult:
        return GatewayResult.approved(f"re_{idempotency_key}", amount)

    async def void(self, charge_key: str) -> GatewayResult:
        return GatewayResult.refused("voided", "no charge came with this key")

    async def test_card(self, token: str) -> Card | None:
        card = TEST_CARDS.get(token)
        return Card(card.brand, card.last4) if card is not None else None

    async def aclose(self) -> None:
        return None
