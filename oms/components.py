"""The components (OMS's seven and the card provider), how to build each one's app,
and the names the ``oms`` tools share about them (which of them talk over the
broker; the API prefix every component serves under is ``shared.web.app.API_PREFIX``)."""

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
    """Start order: a component calls only components of lower tiers (the card
    provider 0, the services 1, the saga 2, the BFFs 3); they start tier by tier
    and stop in reverse."""
    broker: bool = True
    """Whether it talks to the message broker (the card provider speaks HTTP only:
    run alone, it needs no broker, as a real provider does not)."""

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
        Component("card-provider", "card_provider.app", tier=0, broker=False),
        Component("orders", "services.orders.app", tier=1),
        Component("inventory", "services.inventory.app", tier=1),
        Component("users", "services.users.app", tier=1),
        Component("payments", "services.payments.app", tier=1),
        Component("saga", "saga.app", tier=2),
        Component("bff-web", "bff_web.app", tier=3),
        Component("bff-mobile", "bff_mobile.app", tier=3),
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
