"""Input no database can store, refused before any route runs.

A NUL in the path or the query (``%00``), a NUL or a lone surrogate
(``"\\ud800"``) in a JSON body: PostgreSQL cannot hold either, so letting one
through would be a 500 deep in a query.  :class:`StorableInputGuard` answers a
422 naming the field instead, the same answer a validation error gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.types import Message, Receive, Scope, Send

from shared.web.middleware import HttpMiddleware
from shared.web.openapi import documented_paths
from shared.web.problems import UNPROCESSABLE, problem_response
from shared.web.schemas import unstorable

_JSON_TYPES = (b"application/json", b"+json")
_MAX_NAMED = 20
"""How many offending fields one answer lists at most."""


class StorableInputGuard(HttpMiddleware):
    """Refuses, before any route runs, input no database can store: a NUL in the
    path or the query (``%00``), a NUL or a lone surrogate (``"\\ud800"``) in a
    JSON body.  PostgreSQL cannot hold either, so letting one through would be a
    500 deep in a query; here it is a 422 naming the field, the same answer a
    validation error gets, on every route of every component."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        errors = [*_path_errors(scope), *_query_errors(scope["query_string"])]
        if not errors and _is_json(scope):
            body, receive = await _buffered(receive)
            errors = _body_errors(body)
        if errors:
            errors = errors[:_MAX_NAMED]
            names = ", ".join(sorted({e["field"] for e in errors}))
            response = problem_response(
                422,
                UNPROCESSABLE,
                f"invalid input: {names}",
                Request(scope),
                errors=errors,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _path_errors(scope: Scope) -> list[dict[str, str]]:
    problem = unstorable(scope["path"])
    if problem is None:
        return []
    # Name the path parameter that holds it, as a validation error would.
    for template, _ in documented_paths(scope["app"]):
        match = template.match(scope["path"])
        if match:
            named = [_error(k, problem) for k, v in match.groupdict().items() if unstorable(v)]
            if named:
                return named
    return [_error("path", problem)]


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": "unstorable_text"}


def _query_errors(query_string: bytes) -> list[dict[str, str]]:
    if not query_string:
        return []
    # Decoded as Starlette decodes it, so the guard sees what the route would.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    errors = []
    for name, value in pairs:
        problem = unstorable(name) or unstorable(value)
        if problem is not None:
            errors.append(_error(name if unstorable(name) is None else "query", problem))
    return errors


def _is_json(scope: Scope) -> bool:
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type.startswith(b"application/") and media_type.endswith(_JSON_TYPES)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that hands it to the app as if unread."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _body_errors(body: bytes) -> list[dict[str, str]]:
    if b"\\u" not in body and b"\xed" not in body:
        # A NUL or a lone surrogate in a JSON string is an escape (``\u0000``,
        # ``\ud800``) or, for a surrogate, raw bytes that start with 0xED (which
        # Python's JSON decoder lets through); a body with neither holds none, and
        # is not parsed twice.
        return []
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return []  # not JSON at all: the route's own validation names the body
    return [_error(field, problem) for field, problem in _unstorable_in(document, ())]


def _unstorable_in(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """``(field, problem)`` for every string in a JSON document no database could
    store; a bad object key is blamed on its object."""
    if isinstance(value, str):
        problem = unstorable(value)
        if problem is not None:
            yield ".".join(path) or "body", problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_in(item, (*path, str(index)))
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key)
            if problem is not None:
                yield ".".join(path) or "body", problem
                continue
            yield from _unstorable_in(item, (*path, key))
