"""Conditional GET: an ``ETag`` from the content, ``If-None-Match`` → 304 with no body.

A phone polling an order pays a few header bytes per poll until something
changes.  The tag is a digest of the JSON answer, so any change to what the
client would see changes it, and nothing else does.  Tags are weak (``W/``):
the same content may travel gzip-compressed or not.
"""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel

CACHE_CONTROL = "private, no-cache"
"""Keep it, but ask again before using it: the order may have moved on."""


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of ``etag`` with every tag of an ``If-None-Match`` header."""
    if not if_none_match:
        return False
    wanted = _opaque(etag)
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or _opaque(tag) == wanted:
            return True
    return False


def conditional_json(request: Request, answer: BaseModel) -> Response:
    """``answer`` as JSON with its ``ETag``, or a bodiless 304 if the client has it already."""
    body = answer.model_dump_json(by_alias=True).encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag
