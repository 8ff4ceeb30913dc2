"""``concurrently``: steps run at the same time; the scenario goes on when all are done."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from oms.scenario.kinds import Loc, Names, Reference, StepKind

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun
    from oms.scenario.steps import Step


class Concurrently(StepKind):
    """Run these steps at the same time; the scenario goes on when all are done."""

    concurrently: list[Step] = Field(min_length=2)

    def parts(self) -> Iterator[StepKind]:
        for step in self.concurrently:
            yield from step.parts()

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        for index, step in enumerate(self.concurrently):
            yield from step.references(names, (*loc, index, step.kind()))

    async def run(self, run: ScenarioRun) -> None:
        outcomes = await asyncio.gather(
            *(step.run(run) for step in self.concurrently), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
