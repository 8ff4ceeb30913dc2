"""The saga's timing and retry policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SagaConfig:
    """Timing and retry policy (``OMS_SAGA_*`` settings are mapped onto it by the runtime)."""

    step_timeout_seconds: float = 30
    """How long a step's participant has to answer before its command is resent."""
    step_retries: int = 2
    """How often a forward command is resent on timeout before compensating."""
    compensation_retries: int = 5
    """How often a compensation is retried (after a timeout or a refusal) before ``failed``."""
    compensation_backoff_seconds: float = 1
    """The wait before retrying a refused compensation; doubles per failure."""
    compensation_backoff_max_seconds: float = 300
    """The longest wait between two compensation retries."""

    def __post_init__(self) -> None:
        if self.step_timeout_seconds <= 0:
            raise ValueError("step_timeout_seconds must be positive")
        if self.step_retries < 0 or self.compensation_retries < 0:
            raise ValueError("retries cannot be negative")
        if self.compensation_backoff_seconds < 0 or self.compensation_backoff_max_seconds < 0:
            raise ValueError("backoff cannot be negative")

    def backoff(self, failures: int) -> float:
        """The wait before the retry that follows the ``failures``-th failure (1-based)."""
        delay = self.compensation_backoff_seconds * 2 ** max(failures - 1, 0)
        return float(min(delay, self.compensation_backoff_max_seconds))
