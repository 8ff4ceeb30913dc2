"""``crash`` and ``restart``: a component dies (at once, or while it handles a
message) and comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import field_validator

from oms.components import ON_BROKER
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.spec import Component, CrashPoint, FaultSpec, Spec, known_message
from shared.messages import CATALOGUE

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class CrashSpec(Spec):
    """Crash a component: at once (a kill), or while it handles the next message of
    type ``handling`` (fault mode ``crash``, before or after its commit)."""

    component: Component
    handling: str | None = None
    point: CrashPoint = "after_commit"

    _known_message = field_validator("handling")(known_message)


class RestartSpec(Spec):
    """Start a crashed component again and wait until it is ready."""

    component: Component


class Crash(StepKind):
    crash: CrashSpec
    changes_system: ClassVar[bool] = True

    def needs(self) -> set[str]:
        # A crash fault needs no control, but only a control brings the component back.
        return {"crash" if self.crash.handling is None else "restart"}

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        spec = self.crash
        if spec.handling is None:
            return
        consumes = "event" if spec.component == "saga" else "command"
        if spec.component not in ON_BROKER:
            yield (*loc, "component"), f"{spec.component} handles no messages to crash on"
        elif CATALOGUE[spec.handling].kind != consumes:
            yield (
                (*loc, "handling"),
                f"{spec.component} handles {consumes}s; {spec.handling!r} is not one",
            )

    async def run(self, run: ScenarioRun) -> None:
        spec = self.crash
        if spec.handling is not None:
            await run.inject(
                FaultSpec(
                    message=spec.handling,
                    mode="crash",
                    crash_point=spec.point,
                    service=spec.component,
                )
            )
            return
        assert run.control is not None
        await run.control.crash(spec.component)


class Restart(StepKind):
    restart: RestartSpec
    changes_system: ClassVar[bool] = True

    def needs(self) -> set[str]:
        return {"restart"}

    async def run(self, run: ScenarioRun) -> None:
        component = self.restart.component
        assert run.control is not None
        await run.control.restart(component)
        await run.ready([component], f"{component} ready after its restart")
