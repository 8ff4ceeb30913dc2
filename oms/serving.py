"""Serving components under uvicorn in one process, each on its own broker user when it has one.

Start and stop follow the components' dependencies (:attr:`Component.tier`):
the card provider, then the services, then the saga, then the BFFs, each tier once the one
before answers.  On SIGTERM or Ctrl-C they stop the other way round, within
``OMS_SHUTDOWN_GRACE_SECONDS``: the BFFs stop accepting connections and their
requests in flight finish, or answer 503 if they still run when the BFFs' share
of the grace is up; then the saga; then the services, which the others' last
requests still needed.  ``oms up`` and ``oms run`` take the same path.

A component that cannot start raises :class:`~shared.startup.StartupFailed`
naming what failed and where; the components started before it are stopped.

The event loop is uvloop when it is installed and the HTTP parser httptools
(``uvicorn[standard]``): every request, database query and message costs less
CPU on them than on the pure-Python asyncio loop and h11.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import AbstractAsyncContextManager
from itertools import groupby
from typing import NoReturn

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.config import LifespanType
from uvicorn.loops.auto import auto_loop_factory

from oms.components import Component
from oms.draining import Draining
from oms.protocol import bounded_http_protocol
from shared.logging import get_logger
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.transport import Transport
from shared.service import Transports
from shared.settings import Settings
from shared.startup import StartupFailed
from shared.telemetry import configure_tracing

log = get_logger(__name__)

STOP_RESERVE = 0.2
"""Share of the grace kept for each tier stopping after another one: the saga
and the services still hand back messages and connections once their callers
are gone.  A tier without the broker (the card provider, last to stop, its
callers gone) keeps none: it has no messages to hand back."""


MIN_STOP_SECONDS = 0.5
"""What a component gets to close its connections even when the grace is spent."""

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default
is 700): every message allocates hundreds of short-lived containers, which their
reference counts free anyway, so the default runs a collection every few messages."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve_components`, so one
    Ctrl-C stops every component in the process, not only the last one started."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def server_config(
    app: ASGIApp, settings: Settings, port: int, *, lifespan: LifespanType = "on"
) -> uvicorn.Config:
    """How uvicorn serves one component.

    The client address (rate limits, logs) is the socket peer: uvicorn's own
    default would believe ``X-Forwarded-For`` from 127.0.0.1, so any local caller
    could name itself.  Only ``OMS_FORWARDED_ALLOW_IPS`` turns forwarding headers
    on, for the proxies it names.

    A request's head is bounded in size and in time (:mod:`oms.protocol`), and
    an idle connection is closed after ``OMS_HTTP_KEEP_ALIVE_SECONDS``.
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
        http=bounded_http_protocol(
            max_head_bytes=settings.http_max_header_bytes,
            head_timeout=settings.http_header_timeout_seconds,
        ),
        timeout_keep_alive=settings.http_keep_alive_seconds,
    )


@contextlib.asynccontextmanager
async def serving(config: uvicorn.Config) -> AsyncIterator[str]:
    """Serve as ``config`` says while the block runs; yields the URL it listens on
    (the port the system chose when ``config.port`` is 0)."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


class _Running:
    """One component being served: its app's lifespan entered, its server listening."""

    def __init__(self, component: Component, app: FastAPI, settings: Settings) -> None:
        self.component = component
        self.app = app
        self.draining = Draining(app)
        self.settings = settings
        self.host = settings.host
        self.port = settings.port_for(component.name)
        self._lifespan: AbstractAsyncContextManager[object] | None = None
        self._server: _Server | None = None
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        lifespan = self.app.router.lifespan_context(self.app)
        try:
            await lifespan.__aenter__()
        except StartupFailed:
            raise
        except Exception as error:
            raise StartupFailed(self.component.name, "start", "", error) from error
        self._lifespan = lifespan
        try:
            sock = socket.create_server((self.host, self.port), reuse_port=False)
        except OSError as error:
            await self._leave_lifespan()
            where = f"{self.host}:{self.port}"
            raise StartupFailed(self.component.name, "listen on", where, error) from error
        # The lifespan was entered above and is left in :meth:`stop`.
        self._server = _Server(
            server_config(self.draining, self.settings, self.port, lifespan="off")
        )
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
                raise StartupFailed(self.component.name, "serve", "", RuntimeError("stopped"))
            await asyncio.sleep(0.01)

    @property
    def stopped_by_itself(self) -> bool:
        return self._serving is not None and self._serving.done()

    async def stop(self, deadline: float) -> None:
        """Stop accepting, let requests in flight finish until ``deadline`` (a
        ``time.monotonic`` instant; then they answer 503), then leave the lifespan."""
        if self._server is not None and self._serving is not None:
            budget = max(0.0, deadline - time.monotonic())
            self.draining.drain(budget)
            # uvicorn's own bound, a little later than ours: by then every
            # request has answered (or been answered 503) and only closing is left.
            self._server.config.timeout_graceful_shutdown = int(budget) + 1
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._serving
        try:
            # Handlers still running (a delayed message, say) are given up at the
            # deadline: unacknowledged, their messages are delivered again later.
            async with asyncio.timeout(max(MIN_STOP_SECONDS, deadline - time.monotonic())):
                await self._leave_lifespan()
        except TimeoutError:
            log.warning("component.stop_cut_short", component=self.component.name)

    async def _leave_lifespan(self) -> None:
        if self._lifespan is None:
            return
        lifespan, self._lifespan = self._lifespan, None
        try:
            await lifespan.__aexit__(None, None, None)
        except Exception:
            log.exception("component.stop_failed", component=self.component.name)


def exit_at_once(code: int = 0) -> NoReturn:
    """End the process now that every component has stopped in order.

    The exit handlers run (trace exporters flush) and the output is flushed,
    but the interpreter is not torn down module by module: with seven
    components' libraries loaded that takes seconds, on a busy machine longer
    than the grace a deployment gives a stopping process.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _settle_heap() -> None:
    """Set what start-up built (modules, apps, compiled statements, pools) aside from
    the garbage collector, and collect the young generation less often.

    Measured on the participants' handlers, collections took 6 % of the CPU, three
    fifths of it in full collections that walked every object start-up had made."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


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
    """Start ``components`` tier by tier, serve them until a signal, stop them in
    reverse within the grace.  With nothing to serve it returns once started."""
    configure_tracing(
        "+".join(c.name for c in components), settings.otlp_endpoint, settings.trace_sample_ratio
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tiers: list[list[_Running]] = []
    transports = Transports(settings)
    try:
        # Components that never touch the broker (the card provider) run without it.
        await transports.open([c.name for c in components if c.broker])
        await _start_tiers(components, settings, transports, tiers, stop)
        _settle_heap()
        if not stop.is_set():
            if on_started is not None:
                await on_started()
            if tiers:
                await _until_stopped(stop, tiers)
    finally:
        final = time.monotonic() + settings.shutdown_grace_seconds
        await _stop_tiers(tiers, final, settings.shutdown_grace_seconds)
        try:
            # Closing waits for handlers still running: not past the grace.
            async with asyncio.timeout(max(MIN_STOP_SECONDS, final - time.monotonic())):
                await transports.close()
        except TimeoutError:
            log.warning("transport.close_cut_short")
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _start_tiers(
    components: Sequence[Component],
    settings: Settings,
    transports: Transports,
    tiers: list[list[_Running]],
    stop: asyncio.Event,
) -> None:
    """Start each tier's components together; ``tiers`` collects what started."""
    offline = InProcessTransport()
    """What a component off the broker is built with: it never sends on it."""

    def transport_of(component: Component) -> Transport:
        return transports.for_component(component.name) if component.broker else offline

    ordered = sorted(components, key=lambda c: c.tier)
    for _, group in groupby(ordered, key=lambda c: c.tier):
        if stop.is_set():
            return
        tier = [_Running(c, c.build(settings, transport_of(c)), settings) for c in group]
        results = await asyncio.gather(*(r.start() for r in tier), return_exceptions=True)
        started = [r for r, result in zip(tier, results, strict=True) if result is None]
        tiers.append(started)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]


async def _until_stopped(stop: asyncio.Event, tiers: list[list[_Running]]) -> None:
    """Wait for a signal, or for a server that stopped by itself (then stop all)."""
    while not stop.is_set():
        if any(r.stopped_by_itself for tier in tiers for r in tier):
            log.error("component.stopped_unexpectedly")
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await stop.wait()


async def _stop_tiers(tiers: list[list[_Running]], final: float, grace: float) -> None:
    """Stop the last tier first; each gets what is left until ``final``, less a
    share of the grace kept for every tier still to stop that uses the broker."""
    remaining = [tier for tier in tiers if tier]
    while remaining:
        tier = remaining.pop()
        reserved = sum(1 for later in remaining if any(r.component.broker for r in later))
        deadline = final - reserved * STOP_RESERVE * grace
        await asyncio.gather(*(r.stop(deadline) for r in tier))
        log.info(
            "components.stopped",
            components=[r.component.name for r in tier],
            grace_left=round(final - time.monotonic(), 2),
        )
