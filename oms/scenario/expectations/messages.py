"""``http`` (what a named request was answered) and ``dead_letter`` (a published
message was dead-lettered, from where, why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference
from oms.scenario.spec import MessageName, RequestName, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class HttpExpectation(Spec):
    request: RequestName
    status: int
    headers: dict[str, str] = Field(default_factory=dict)


class DeadLetterExpectation(Spec):
    message: MessageName
    queue: str | None = None
    reason: str | None = None


class ExpectHttp(ExpectationKind):
    http: HttpExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.http
        answer = run.answers.get(spec.request)
        if answer is None:
            return Difference(f"request {spec.request}", "an answer", "none")
        if answer.status != spec.status:
            return Difference(
                f"request {spec.request} HTTP status", str(spec.status), str(answer.status)
            )
        for header, value in spec.headers.items():
            if answer.headers.get(header) != value:
                return Difference(
                    f"request {spec.request} header {header}",
                    repr(value),
                    repr(answer.headers.get(header)),
                )
        return None


class ExpectDeadLetter(ExpectationKind):
    dead_letter: DeadLetterExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.dead_letter
        ids = set(run.messages.get(spec.message, ()))
        letters = [letter for letter in await run.api.dead_letters() if letter["messageId"] in ids]
        if len(letters) < len(ids):
            return Difference(
                f"message {spec.message} dead-lettered",
                f"{len(ids)} dead letters",
                f"{len(letters)}",
            )
        for letter in letters:
            if spec.queue is not None and letter["queue"] != spec.queue:
                return Difference(
                    f"message {spec.message} dead-lettered from", spec.queue, letter["queue"]
                )
            if (
                spec.reason is not None
                and spec.reason.casefold() not in letter["reason"].casefold()
            ):
                return Difference(
                    f"message {spec.message} dead-letter reason",
                    f"containing {spec.reason!r}",
                    repr(letter["reason"]),
                )
        return None
