"""A component's ASGI app on the embedded stack, for tools that drive it themselves.

Schemathesis runs an app's lifespan and requests on an event loop of its own:
:func:`embedded_app` connects and declares the in-process transport inside that
lifespan, so every part of the component lives on the one loop that serves it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import CheckFunction, GenerationMode
from schemathesis.core.result import Err
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection

from shared.messaging.inprocess import InProcessTransport
from shared.messaging.topology import standard_topology
from shared.messaging.transport import Transport
from shared.settings import Settings
from tests.support.stack import TEST_JWT_SECRET

AppFactory = Callable[[Settings, Transport], FastAPI]


def embedded_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir, jwt_secret=TEST_JWT_SECRET, outbox_sweep_seconds=0.2, **overrides
    )


def embedded_app(build_app: AppFactory, settings: Settings) -> FastAPI:
    """``build_app`` on a fresh in-process transport owned by the app's lifespan."""
    transport = InProcessTransport(delivery_limit=settings.delivery_limit)
    app = build_app(settings, transport)
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        await transport.connect()
        await transport.declare(standard_topology(settings.delivery_limit))
        try:
            async with service_lifespan(app_) as state:
                yield state
        finally:
            await transport.close()

    app.router.lifespan_context = lifespan
    return app


def fuzz_api(
    app: FastAPI,
    subtests: pytest.Subtests,
    *,
    headers: dict[str, str],
    max_examples: int = 25,
    skip_paths: tuple[str, ...] = ("/api/v1/_faults",),
    relaxed: Mapping[str, Sequence[CheckFunction]] | None = None,
    extra: Mapping[str, Sequence[CheckFunction]] | None = None,
) -> None:
    """Run schemathesis against every operation of ``app``'s OpenAPI document, with
    valid and invalid input, checking each answer against the document (no 5xx,
    documented status codes and bodies).  One subtest per operation and mode.

    ``skip_paths`` leaves out paths the component mounts but does not own (the
    shared fault-injection router); ``relaxed`` names checks to leave out for an
    operation (by label, ``"GET /api/v1/orders"``), each with a reason at the caller;
    ``extra`` names checks of the caller's own to add for an operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            if operation.path in skip_paths:
                continue
            excluded = list((relaxed or {}).get(operation.label, ()))
            if operation.method.upper() == "GET":
                # Like any HTTP API, a query ignores parameters it does not know.
                excluded.append(negative_data_rejection)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                with subtests.test(operation=operation.label, mode=mode.value):
                    try:
                        _explore(
                            operation,
                            mode,
                            headers,
                            excluded,
                            list((extra or {}).get(operation.label, ())),
                            max_examples,
                        )
                    except Unsatisfiable:
                        # An operation without parameters or body has no invalid input.
                        if mode is GenerationMode.POSITIVE:
                            raise
    finally:
        shutdown_lifespans()


def _explore(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    headers: dict[str, str],
    excluded: list[CheckFunction],
    added: list[CheckFunction],
    max_examples: int,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: CI never meets a new one by chance
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, additional_checks=added, excluded_checks=excluded)

    check()
