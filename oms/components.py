"""The seven components, how to build each one's app, and the names the ``oms``
tools share about them (which of them talk over the broker; the API prefix every
component serves under is ``shared.web.app.API_PREFIX``)."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI

from shared.messaging.transport import Transport
from shared.settings import PORTS, Settings

PARTICIPANTS = ("orders", "inventory", "payments")
"""The services the saga sends commands to."""
ON_BROKER = (*PARTICIPANTS, "saga")
"""The components that consume from the broker (and take message faults)."""


class AppFactory(Protocol):
    def __call__(self, settings: Settings, transport: Transport) -> FastAPI: ...


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    """A module with ``build_app(settings, transport) -> FastAPI``."""
    tier: int
    """Start order: a component calls only components of lower tiers (the services
    0, the saga 1, the BFFs 2); they start tier by tier and stop in reverse."""

    def available(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except ModuleNotFoundError:
            return False

    def build(self, settings: Settings, transport: Transport) -> FastAPI:
        factory: AppFactory = importlib.import_module(self.module).build_app
        return factory(settings, transport)


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("orders", "services.orders.app", tier=0),
        Component("inventory", "services.inventory.app", tier=0),
        Component("users", "services.users.app", tier=0),
        Component("payments", "services.payments.app", tier=0),
        Component("saga", "saga.app", tier=1),
        Component("bff-web", "bff_web.app", tier=2),
        Component("bff-mobile", "bff_mobile.app", tier=2),
    )
}
"""Every component: the one list the command, the scenario runner and the OpenAPI
documents go by.  Their ports are in ``shared/settings.py`` (the settings, which
every component reads, cannot import this module); the two must name the same."""
if set(COMPONENTS) != set(PORTS):
    raise AssertionError("oms/components.py and shared/settings.py PORTS name other components")


def available_components() -> list[Component]:
    """The components this installation has, in start order (services first)."""
    return [c for c in COMPONENTS.values() if c.available()]
