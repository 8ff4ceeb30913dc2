"""The provider's test cards and how it answers for them: no I/O here.

=========================== ============== ===============
token                       charge         refund
=========================== ============== ===============
``pm_card_ok``              captured       succeeded
``pm_card_declined``        card_declined  (nothing to refund)
``pm_card_refund_declined`` captured       refund_declined
any other token             invalid_payment_method
=========================== ============== ===============

A charge of zero or less is refused (``invalid_amount``), as is a refund outside
1 to what is left of its charge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

CARD_OK = "pm_card_ok"
CARD_DECLINED = "pm_card_declined"
CARD_REFUND_DECLINED = "pm_card_refund_declined"


@dataclass(frozen=True)
class TestCard:
    """A test card: how it shows, and whether its charges and refunds go through."""

    __test__ = False  # not a pytest class, whatever its name

    brand: str
    last4: str
    charges: bool
    refunds: bool


TEST_CARDS: dict[str, TestCard] = {
    CARD_OK: TestCard("visa", "4242", charges=True, refunds=True),
    CARD_DECLINED: TestCard("visa", "0002", charges=False, refunds=True),
    CARD_REFUND_DECLINED: TestCard("mastercard", "0341", charges=True, refunds=False),
}


class Code(StrEnum):
    """Why the provider refused a charge or a refund."""

    INVALID_PAYMENT_METHOD = "invalid_payment_method"
    CARD_DECLINED = "card_declined"
    REFUND_DECLINED = "refund_declined"
    INVALID_AMOUNT = "invalid_amount"
    VOIDED = "voided"
    """The charge's key was voided before a charge with it arrived."""


@dataclass(frozen=True)
class Decision:
    """Whether a charge or refund goes through, and if not, why."""

    approved: bool
    code: Code | None = None
    reason: str | None = None


APPROVED = Decision(approved=True)


def refused(code: Code, reason: str) -> Decision:
    return Decision(approved=False, code=code, reason=reason)


class Cards:
    """The test cards of one provider; a test may change how one answers while it runs
    (:meth:`behave`), to show a declined refund going through when tried again."""

    __test__ = False

    def __init__(self) -> None:
        self._cards = dict(TEST_CARDS)

    def get(self, token: str) -> TestCard | None:
        return self._cards.get(token)

    def behave(
        self, token: str, *, charges: bool | None = None, refunds: bool | None = None
    ) -> None:
        """Change how the test card ``token`` answers from now on."""
        card = self._cards[token]
        self._cards[token] = replace(
            card,
            charges=card.charges if charges is None else charges,
            refunds=card.refunds if refunds is None else refunds,
        )

    def decide_charge(self, token: str, amount: int) -> Decision:
        card = self.get(token)
        if card is None:
            return refused(
                Code.INVALID_PAYMENT_METHOD, "the card token is not known to the provider"
            )
        if not card.charges:
            return refused(Code.CARD_DECLINED, "the card was declined")
        if amount <= 0:
            return refused(Code.INVALID_AMOUNT, "the amount must be positive")
        return APPROVED

    def decide_refund(self, token: str | None, amount: int, refundable: int) -> Decision:
        """A refund of ``amount`` of a charge of ``token`` of which ``refundable`` is left."""
        card = self.get(token) if token is not None else None
        if card is not None and not card.refunds:
            return refused(Code.REFUND_DECLINED, "the refund was declined")
        if not 0 < amount <= refundable:
            return refused(Code.INVALID_AMOUNT, f"the refund must be between 1 and {refundable}")
        return APPROVED
