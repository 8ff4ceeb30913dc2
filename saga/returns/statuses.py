"""Where a return saga is: one status per command it awaits, three at rest."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class ReturnStatus(StrEnum):
    awaiting_receipt = "awaiting_receipt"
    """Waiting for the warehouse to receive the goods (a timer: the return window)."""
    expiring = "expiring"
    """Unreceived in time: the orders service is told to expire the return."""
    restocking = "restocking"
    """The received quantities are being put back into stock."""
    refunding = "refunding"
    """Their amount, at the prices paid, is being refunded to the card."""
    closing = "closing"
    """The orders service is told the return is refunded."""
    completed = "completed"
    expired = "expired"
    failed = "failed"
    """A command kept failing (a refund refused every time): waits for ops."""


TERMINAL: frozenset[ReturnStatus] = frozenset(
    {ReturnStatus.completed, ReturnStatus.expired, ReturnStatus.failed}
)
RECEIPT = "return.receipt"
"""The name of the receipt timer (no command is sent: the warehouse is waited on)."""

ReturnStateFilter = Literal[
    "awaiting_receipt", "expiring", "restocking", "refunding", "closing", "expired"
]
"""The return saga's statuses a state filter may name besides the order saga's
(``completed`` and ``failed`` are both's)."""
if set(get_args(ReturnStateFilter)) | {"completed", "failed"} != {s.value for s in ReturnStatus}:
    raise AssertionError("ReturnStateFilter must name every return status")
