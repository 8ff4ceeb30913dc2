"""Runs components under uvicorn in one process, sharing one transport.

The event loop is uvloop and the HTTP parser httptools when they are installed
(``uvicorn[standard]``): every request, database query and message costs
less CPU on them than on the pure-Python asyncio loop and h11.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Generator, Sequence

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LifespanType
from uvicorn.loops.auto import auto_loop_factory

from oms.components import Component
from shared.logging import get_logger
from shared.service import open_transport
from shared.settings import Settings
from shared.telemetry import configure_tracing

log = get_logger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve_components`, so one
    Ctrl-C stops every component in the process, not only the last one started."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def server_config(
    app: FastAPI, settings: Settings, port: int, *, lifespan: LifespanType = "on"
) -> uvicorn.Config:
    """How uvicorn serves one component.

    The client address (rate limits, logs) is the socket peer: uvicorn's own
    default would believe ``X-Forwarded-For`` from 127.0.0.1, so any local caller
    could name itself.  Only ``OMS_FORWARDED_ALLOW_IPS`` turns forwarding headers
    on, for the proxies it names.
    """
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def run_components(
    components: Sequence[Component],
    settings: Settings,
    *,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``components`` until Ctrl-C (or SIGTERM), on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(serve_components(components, settings, on_started=on_started))


async def serve_components(
    components: Sequence[Component],
    settings: Settings,
    *,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    configure_tracing(
        "+".join(c.name for c in components), settings.otlp_endpoint, settings.trace_sample_ratio
    )
    transport = await open_transport(settings)
    servers = [
        _Server(
            server_config(
                component.build(settings, transport), settings, settings.port_for(component.name)
            )
        )
        for component in components
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    async def announce() -> None:
        while not all(s.started for s in servers):
            if any(s.should_exit for s in servers):
                return
            await asyncio.sleep(0.05)
        if on_started is not None:
            await on_started()

    try:
        await asyncio.gather(*(s.serve() for s in servers), announce())
    finally:
        await transport.close()
