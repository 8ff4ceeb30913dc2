"""What the payments' use cases refuse, as domain errors (they know nothing of HTTP
or messaging; :data:`services.payments.api.PROBLEMS` and
:mod:`services.payments.handlers` turn them into problem answers and dead letters)::

    PaymentError
    ├── PaymentMethodNotFound   no such saved method, or another user's (which looks absent)
    ├── CardAlreadySaved        the user saved this card's token before
    ├── EveryPaymentForOps      a customer listing every payment, not one order's
    ├── NotAReference           a command naming an order or user no id can look like
    └── ProviderUnavailable     the card provider gave no answer after every attempt

A declined card or refund is no error: it is an answer (``payment.failed``,
``payment.refund_failed``).
"""

from __future__ import annotations

from shared.errors import DomainError


class PaymentError(DomainError):
    """A request or command about payments that cannot be carried out as asked."""


class PaymentMethodNotFound(PaymentError):
    message = "payment method not found"


class CardAlreadySaved(PaymentError):
    message = "this card is already saved"


class EveryPaymentForOps(PaymentError):
    message = "listing every payment needs the ops role; filter by orderId"


class NotAReference(PaymentError):
    def __init__(self, value: str) -> None:
        super().__init__(f"{value[:80]!r} is not an order or user id")


class ProviderUnavailable(PaymentError):
    """The card provider gave no usable answer: down, slower than every timeout, or
    failing.  Whether money moved is unknown; the caller records nothing and tries
    again later with the same idempotency key (a command is not acknowledged, so it
    is delivered again and, past the delivery limit, dead-lettered with the reason)."""
