"""What every component's OpenAPI document says of the routes it shares.

Every operation documents the common problem answers, and every text parameter
the pattern :class:`shared.web.storable.StorableInputGuard` enforces.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from shared.web.problems import PROBLEM_JSON, problem_responses
from shared.web.schemas import NO_NUL

_TEMPLATE_PARAMETER = re.compile(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}")


def documented_paths(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each path of the app's OpenAPI document as a regex, with its methods."""
    paths = []
    for path, item in app.openapi().get("paths", {}).items():
        methods = {m.upper() for m in item if m in HTTP_METHODS}
        paths.append((_path_regex(path), methods))
    return paths


def _path_regex(path: str) -> re.Pattern[str]:
    regex = _TEMPLATE_PARAMETER.sub(r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$", re.DOTALL)


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


COMMON_PROBLEMS = (400, 401, 403, 404, 408, 409, 422, 429, 431, 503)
"""Problem answers any route may give: bad input, authentication and ownership,
conflicts, rate limits, a request head too slow or too large, a dependency down.  Routes add their
own (502, 504), and a route taking a body its 413."""
SIGNED_IN_ONLY = {"401", "403"}
"""Answers about the bearer token and its role: documented only where one is asked for."""


def document_common_problems(document: dict[str, Any]) -> None:
    """Every operation documents the common problem answers (as problem+json,
    also for 422, which FastAPI would otherwise document as its own JSON); those
    about a bearer token only where the operation asks for one."""
    common = {str(k): v for k, v in problem_responses(*COMMON_PROBLEMS).items()}
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in common.items():
                if status in SIGNED_IN_ONLY and "security" not in operation:
                    continue
                declared = responses.get(status)
                if declared is None or PROBLEM_JSON not in declared.get("content", {}):
                    responses[status] = response
    # FastAPI's own 422 shapes are no longer referred to by any operation.
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


_VALIDATED_FORMATS_EXEMPT = {None, "password"}
"""String formats that constrain nothing, so the NUL pattern can join them."""


def document_storable_text(document: dict[str, Any]) -> None:
    """Say in the document what :class:`StorableInputGuard` refuses: every text
    parameter and request-body string without a pattern of its own gets one that
    excludes NUL (a lone surrogate is not text a client can send)."""
    components = document.get("components", {}).get("schemas", {})
    seen: set[int] = set()

    def walk(schema: Any) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            walk(components.get(ref.rsplit("/", 1)[1]))
        if (
            schema.get("type") == "string"
            and not {"pattern", "enum", "const"} & schema.keys()
            and schema.get("format") in _VALIDATED_FORMATS_EXEMPT
        ):
            schema["pattern"] = NO_NUL
        for key in ("properties", "$defs"):
            for child in (schema.get(key) or {}).values():
                walk(child)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for child in schema.get(key) or ():
                walk(child)
        for key in ("items", "additionalProperties"):
            walk(schema.get(key))

    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                walk(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                walk(media.get("schema"))
