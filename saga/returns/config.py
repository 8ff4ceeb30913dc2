"""The return saga's timing and retry policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReturnConfig:
    """Timing and retries (``OMS_SAGA_*`` and ``OMS_RETURN_*`` settings map onto it)."""

    receipt_timeout_seconds: float = 14 * 86_400
    """How long the warehouse has to receive the goods before the return expires."""
    step_timeout_seconds: float = 30
    """How long a participant has to answer before the command is resent."""
    step_retries: int = 2
    """How often a command is resent on timeout before the saga is ``failed``."""
    refund_retries: int = 5
    """How often a refused refund is retried before the saga is ``failed``."""
    refund_backoff_seconds: float = 1
    """The wait before retrying a refused refund; doubles per refusal."""
    refund_backoff_max_seconds: float = 300

    def __post_init__(self) -> None:
        if self.receipt_timeout_seconds <= 0 or self.step_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive")
        if self.step_retries < 0 or self.refund_retries < 0:
            raise ValueError("retries cannot be negative")

    def backoff(self, refusals: int) -> float:
        delay = self.refund_backoff_seconds * 2 ** max(refusals - 1, 0)
        return float(min(delay, self.refund_backoff_max_seconds))
