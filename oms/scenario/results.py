"""What running a scenario gives: its outcome and, when it failed, the first difference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class Difference:
    """The first thing that was not as expected."""

    what: str
    expected: str
    seen: str
    saga_id: str | None = None
    link: str | None = None

    def describe(self) -> str:
        text = f"{self.what}: expected {self.expected}, seen {self.seen}"
        return f"{text} (saga {self.saga_id}: {self.link})" if self.saga_id else text


@dataclass
class ScenarioResult:
    name: str
    path: str
    outcome: Outcome
    seconds: float = 0.0
    difference: Difference | None = None
    reason: str | None = None
    """Why it was skipped, or the error that stopped it."""
    orders: dict[str, str] = field(default_factory=dict)
    """The file's order names and the ids they got."""
    returns: dict[str, str] = field(default_factory=dict)
    """The file's return names and the ids they got (their sagas' ids too)."""
    trail: dict[str, str] = field(default_factory=dict)
    """For a failure: each order's saga as it ended (what came in, what went out)."""


class StepFailed(Exception):
    """A step the system did not take as the file expected."""

    def __init__(self, difference: Difference) -> None:
        super().__init__(difference.describe())
        self.difference = difference
