"""``cut_broker`` (every broker connection closed) and ``publish`` (a raw message,
e.g. a poison one): steps that need a hold on the broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from oms.components import ON_BROKER
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.spec import Name, OrderName, Spec
from shared.messaging.envelope import Envelope

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class CutBrokerSpec(Spec):
    """Close every broker connection of the system (what a network cut does)."""


class PublishSpec(Spec):
    """Publish a raw message, e.g. a poison one no consumer can handle."""

    routing_key: str
    exchange: str = "commands"
    type: str | None = None
    """The message's type property (default: the routing key)."""
    body: str | dict[str, Any] = "{}"
    """Sent as is when text, as JSON when a mapping."""
    name: Name | None = None
    """A name for the message, for ``dead_letter`` expectations."""
    order: OrderName | None = None
    """The order it is about (its correlation id); default a fresh id."""
    times: int = Field(default=1, ge=1, le=100)


class CutBroker(StepKind):
    cut_broker: CutBrokerSpec
    controlled: ClassVar[bool] = True
    changes_system: ClassVar[bool] = True

    async def run(self, run: ScenarioRun) -> None:
        assert run.control is not None
        await run.control.cut_broker()
        # Each component reconnects on its own; the scenario goes on once all are ready.
        await run.ready(ON_BROKER, "components reconnected")


class Publish(StepKind):
    publish: PublishSpec
    controlled: ClassVar[bool] = True

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        if self.publish.name:
            names.messages.add(self.publish.name)
        return super().references(names, loc)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.publish
        assert run.control is not None
        body = spec.body if isinstance(spec.body, str) else json.dumps(spec.body)
        ids = run.messages.setdefault(spec.name or f"published-{len(run.messages)}", [])
        for _ in range(spec.times):
            envelope = Envelope(
                message_id=str(uuid.uuid4()),
                type=spec.type or spec.routing_key,
                correlation_id=run.orders[spec.order] if spec.order else str(uuid.uuid4()),
                app_id="oms-scenario",
                body=body.encode(),
                exchange=spec.exchange,
                routing_key=spec.routing_key,
            )
            await run.control.publish(envelope)
            ids.append(envelope.message_id)
