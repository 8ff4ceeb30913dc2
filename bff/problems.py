"""Downstream failures as RFC 9457 problems, mapped in one place for every BFF.

* :class:`~bff.downstream.DownstreamRejected` (the service answered 4xx) is
  passed on with the service's own status, detail and extensions (``field``,
  ``errors``): a 404 for an order stays a 404, a 422 still names the field, a
  429 keeps its ``Retry-After`` (from the problem's ``retryAfter``).
* Every other :class:`~bff.downstream.DownstreamError` answers its ``status``
  (502 unreachable, failing or circuit open; 504 out of time) naming the service;
  an open circuit adds ``Retry-After``.
* A request that outlives its own deadline (:func:`answer_within`) is a 504.
* An answer that breaks the service's contract (:func:`parse_answer`) is a 502.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from bff.downstream import (
    CircuitOpen,
    Deadline,
    DownstreamError,
    DownstreamRejected,
    EssentialSectionFailed,
    request_deadline,
)
from shared.logging import get_logger
from shared.web.problems import BadGateway, GatewayTimeout, problem_response

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

# Members of a downstream problem that this BFF sets itself, or that would
# clash with problem_response's own arguments.
_OWN_MEMBERS = frozenset(
    {"type", "title", "status", "detail", "instance", "service", "headers", "request"}
)


def downstream_problem(request: Request, error: DownstreamError) -> JSONResponse:
    """The problem response a BFF gives for ``error``."""
    if isinstance(error, DownstreamRejected):
        passed_on: dict[str, Any] = {
            key: value for key, value in (error.problem or {}).items() if key not in _OWN_MEMBERS
        }
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        if error.status == 429:  # the service's own wait, or at least a second
            headers = {"Retry-After": str(_retry_after(passed_on.get("retryAfter")))}
        return problem_response(
            error.status,
            _title(error.status),
            error.detail,
            request,
            headers=headers,
            service=error.service,
            **passed_on,
        )
    log.warning("downstream.failed", service=error.service, error=str(error))
    headers = None
    circuit = error.cause if isinstance(error, EssentialSectionFailed) else error
    if isinstance(circuit, CircuitOpen):
        # Failed fast: say when the service will be tried again.
        headers = {"Retry-After": str(max(1, math.ceil(circuit.retry_after)))}
    return problem_response(
        error.status,
        _title(error.status),
        f"{error.service}: {error.detail}",
        request,
        headers=headers,
        service=error.service,
    )


def _retry_after(value: Any) -> int:
    return max(1, value) if isinstance(value, int) and not isinstance(value, bool) else 1


def install_downstream_problems(app: FastAPI) -> None:
    """Answer every :class:`DownstreamError` raised in a route as a problem."""

    @app.exception_handler(DownstreamError)
    async def _downstream(request: Request, exc: DownstreamError) -> JSONResponse:
        return downstream_problem(request, exc)


ANSWER_RESERVE = 0.05
"""Seconds of a route's deadline kept back from its work, to shape and send the answer."""


@asynccontextmanager
async def answer_within(seconds: float) -> AsyncIterator[Deadline]:
    """:func:`~bff.downstream.request_deadline` for a route: running out of time is a 504.

    The block gets ``seconds`` less :data:`ANSWER_RESERVE`, so even an answer
    that a downstream call's timeout decided is sent within ``seconds``.
    Downstream calls inside fail by themselves with a typed error naming their
    service; this catches whatever else was still awaited when time ran out.
    """
    try:
        async with request_deadline(max(0.0, seconds - ANSWER_RESERVE)) as deadline:
            yield deadline
    except TimeoutError:
        raise GatewayTimeout(f"no answer within the request deadline of {seconds:g}s") from None


def parse_answer(model: type[M], data: Any, service: str) -> M:
    """Read a downstream answer into ``model``; an answer of another shape is a 502.

    A service breaking its contract is not the caller's fault, nor a reason for
    a 500 that hides who broke it.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        log.error("downstream.unexpected_answer", service=service, errors=exc.errors()[:3])
        raise BadGateway(
            f"{service}: answered a body of an unexpected shape", service=service
        ) from None


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
