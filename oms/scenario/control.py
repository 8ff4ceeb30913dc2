"""What a scenario may do to the system beyond its HTTP APIs, and who can do it.

Crashing and restarting a component, cutting the broker connections and
publishing a raw message need a hold on the system's processes or its broker,
which the HTTP APIs do not give.  The runner asks a :class:`Control` for them;
a scenario that needs a capability the control lacks is skipped with the reason,
before any of it runs.  (A crash *while handling a message* is a fault,
``crash: {component: saga, handling: inventory.reserved}``, which needs no control;
bringing the component back afterwards does.)

Controls:

* :class:`BrokerControl` publishes and cuts connections on a real RabbitMQ (the
  runner's own ``OMS_BROKER_URL``, and the management API for the cut);
* :class:`CommandControl` runs a shell command per crash or restart, e.g.
  ``docker compose kill -s KILL {component}`` / ``docker compose start {component}``;
* test harnesses implement the protocol over the processes they started
  (``tests/support/scenarios.py``), or over the in-process transport.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

from shared.messaging.envelope import Envelope


class ControlError(RuntimeError):
    """A control could not do what a step asked."""


class Control(Protocol):
    """A hold on the running system's processes or broker."""

    @property
    def capabilities(self) -> frozenset[str]: ...

    async def crash(self, component: str) -> None:
        """Kill the component now, as a crash would (no shutdown, no draining)."""

    async def restart(self, component: str) -> None:
        """Start the component again (after a kill or a crash fault); it may still be
        starting when this returns, the runner waits until it is ready."""

    async def cut_broker(self) -> None:
        """Close every connection the system holds to its broker."""

    async def publish(self, envelope: Envelope) -> None:
        """Publish ``envelope`` as it is (the body may be anything)."""


class Controls:
    """Several controls as one: each capability from the first that has it."""

    def __init__(self, parts: Sequence[Control]) -> None:
        self.parts = list(parts)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset().union(*(p.capabilities for p in self.parts))

    def _for(self, capability: str) -> Control:
        for part in self.parts:
            if capability in part.capabilities:
                return part
        raise ControlError(f"no control can {capability}")

    async def crash(self, component: str) -> None:
        await self._for("crash").crash(component)

    async def restart(self, component: str) -> None:
        await self._for("restart").restart(component)

    async def cut_broker(self) -> None:
        await self._for("cut_broker").cut_broker()

    async def publish(self, envelope: Envelope) -> None:
        await self._for("publish").publish(envelope)


class BrokerControl:
    """Publishing and cutting connections on RabbitMQ, from outside the system."""

    def __init__(self, broker_url: str, management_url: str | None = None) -> None:
        self.broker_url = broker_url
        self.management_url = management_url

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"publish", "cut_broker"} if self.management_url else {"publish"})

    async def publish(self, envelope: Envelope) -> None:
        from shared.messaging.amqp import AmqpTransport

        transport = AmqpTransport(self.broker_url)
        await transport.connect()
        try:
            await transport.publish(envelope)
        finally:
            await transport.close()

    async def cut_broker(self) -> None:
        if not self.management_url:
            raise ControlError("cutting the broker needs its management API URL")
        parts = urlsplit(self.broker_url)
        vhost = unquote(parts.path.lstrip("/")) or "/"
        auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        async with httpx.AsyncClient(base_url=self.management_url, auth=auth, timeout=30) as api:
            listed = await api.get(f"/api/vhosts/{quote(vhost, safe='')}/connections")
            listed.raise_for_status()
            names = [str(c["name"]) for c in listed.json()]
            if not names:
                raise ControlError(f"no connection to cut on vhost {vhost!r}")
            for name in names:
                closed = await api.delete(
                    f"/api/connections/{quote(name, safe='')}",
                    headers={"X-Reason": "QA scenario: broker connections cut"},
                )
                if closed.status_code != 404:  # gone on its own meanwhile
                    closed.raise_for_status()

    async def crash(self, component: str) -> None:
        raise ControlError("the broker control cannot crash components")

    async def restart(self, component: str) -> None:
        raise ControlError("the broker control cannot restart components")


class CommandControl:
    """Crash and restart by running shell commands; ``{component}`` is replaced."""

    def __init__(self, *, crash: str | None = None, restart: str | None = None) -> None:
        self.commands = {"crash": crash, "restart": restart}

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(name for name, command in self.commands.items() if command)

    async def _run(self, what: str, component: str) -> None:
        template = self.commands[what]
        if not template:
            raise ControlError(f"no command given to {what} a component")
        command = template.replace("{component}", shlex.quote(component))
        process = await asyncio.create_subprocess_shell(
            command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise ControlError(f"{command!r} exited {process.returncode}: {output.decode()[-500:]}")

    async def crash(self, component: str) -> None:
        await self._run("crash", component)

    async def restart(self, component: str) -> None:
        await self._run("restart", component)

    async def cut_broker(self) -> None:
        raise ControlError("a command control cannot cut the broker")

    async def publish(self, envelope: Envelope) -> None:
        raise ControlError("a command control cannot publish")
