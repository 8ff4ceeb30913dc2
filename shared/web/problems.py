"""RFC 9457 problem details: the one error shape of every HTTP answer.

Errors a caller can act on are :class:`Problem` subclasses raised anywhere in a
request; :func:`install_problem_handlers` maps them, validation errors, routing
errors and unexpected exceptions to ``application/problem+json`` in one place.
A service's use cases raise its own domain errors instead, which know nothing of
HTTP: the service's table of :data:`DomainProblems` says which problem answers
each (:func:`install_domain_problems`), so the JSON field a problem names is the
edge's business::

    Problem (status, title, detail)
    ├── Unauthorized      401
    ├── Forbidden         403
    ├── NotFound          404
    ├── Conflict          409
    ├── Unprocessable     422
    ├── TooManyRequests   429 (Retry-After)
    ├── BadGateway        502 (names the service)
    └── GatewayTimeout    504 (names the service)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import get_logger

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    status: int = 500
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class Unauthorized(Problem):
    status, title = 401, "Unauthorized"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extensions)


class Forbidden(Problem):
    status, title = 403, "Forbidden"


class NotFound(Problem):
    status, title = 404, "Not Found"


class Conflict(Problem):
    status, title = 409, "Conflict"


UNPROCESSABLE = HTTPStatus.UNPROCESSABLE_ENTITY.phrase
"""The 422 title: the words of the status line (which the server takes from
``http.HTTPStatus``), so the two agree whatever the Python version calls it."""


class Unprocessable(Problem):
    status, title = 422, UNPROCESSABLE


class TooManyRequests(Problem):
    status, title = 429, "Too Many Requests"

    def __init__(self, detail: str, *, retry_after: int, **extensions: Any) -> None:
        # Also in the body, so a BFF passing the problem on can repeat the header.
        super().__init__(
            detail, headers={"Retry-After": str(retry_after)}, retryAfter=retry_after, **extensions
        )


class BadGateway(Problem):
    status, title = 502, "Bad Gateway"


class GatewayTimeout(Problem):
    status, title = 504, "Gateway Timeout"


DomainProblems = Mapping[type[Exception], Callable[[Any], Problem]]
"""A service's domain errors, each with the problem it answers over HTTP (a subclass
answers as its nearest listed ancestor)."""


class ProblemOut(BaseModel):
    """RFC 9457 problem details, as every error answer is shaped."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="on 422: each offending field with its message"
    )


_DESCRIPTIONS = {
    401: "Missing, forged or expired bearer token",
    403: "Not allowed for this caller's role (an ops path, for one)",
    404: "Not found (another user's resource looks absent too)",
    408: "The request line and headers did not arrive in time; the connection is closed",
    409: "Conflict with the current state",
    413: "The request body is larger than this route takes",
    431: "The request line and headers are larger than the server takes",
    422: "Invalid input; the offending fields are named",
    429: "Too many requests; see Retry-After",
    502: "A downstream service failed; it is named",
    504: "A downstream service did not answer in time; it is named",
}


def problem_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem answers a route can give; ``descriptions``
    replaces the usual words for a status where the route means something else."""
    schema = ProblemOut.model_json_schema()
    words = {**_DESCRIPTIONS, **(descriptions or {})}
    return {
        status: {
            "description": words.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }


def problem_response(
    status: int,
    title: str,
    detail: str,
    request: Request,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _answer(problem: Problem, request: Request) -> JSONResponse:
    return problem_response(
        problem.status,
        problem.title,
        problem.detail,
        request,
        headers=problem.headers,
        **problem.extensions,
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


_STATUSES = {s.value for s in HTTPStatus}

_UNPARSEABLE_BODY = "There was an error parsing the body"
"""What FastAPI raises (as a 400) for a body it cannot decode at all."""


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _answer(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        names = ", ".join(sorted({e["field"] for e in errors})) or "request"
        return problem_response(
            422, UNPROCESSABLE, f"invalid input: {names}", request, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
            # A body that is not even text: the same answer as any other bad body.
            errors = [{"field": "body", "message": "not valid JSON", "type": "json_invalid"}]
            return problem_response(
                422, UNPROCESSABLE, "invalid input: body", request, errors=errors
            )
        title = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else "Error"
        return problem_response(
            exc.status_code, title, str(exc.detail), request, headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        return problem_response(500, "Internal Server Error", "unexpected error", request)


def install_domain_problems(app: FastAPI, problems: DomainProblems) -> None:
    """Answer each domain error in ``problems`` with its problem."""

    async def answer(request: Request, error: Exception) -> JSONResponse:
        problem_of = next(problems[c] for c in type(error).__mro__ if c in problems)
        return _answer(problem_of(error), request)

    for error in problems:
        app.add_exception_handler(error, answer)


SIGN_IN_FAILED = {401: "Wrong email or password"}
"""A login's 401: the credentials, not a bearer token."""
