"""A JSON body no database could store is refused before the route, however the
lone surrogate or NUL is written; text that merely looks like it passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from shared.web.app import create_app
from shared.web.problems import PROBLEM_JSON


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.post("/notes")
    async def add_note(note: dict[str, Any]) -> dict[str, Any]:
        return note

    app = create_app("notes", routers=[router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notes") as http:
        yield http


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"text": "a\\u0000b"}', "NUL"),
        (b'{"text": "a\\ud800b"}', "lone surrogate"),
        # Raw bytes of a surrogate: not UTF-8, but Python's JSON decoder lets them in.
        ('{"text": "a\ud800b"}'.encode("utf-8", "surrogatepass"), "lone surrogate"),
    ],
    ids=["escaped NUL", "escaped surrogate", "raw surrogate bytes"],
)
async def test_unstorable_text_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: bytes, problem: str
) -> None:
    answer = await client.post(
        "/api/v1/notes", content=body, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in answer.json()["errors"]] == ["text"]
    assert problem in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "text",
    ["plain", "한국어 (its UTF-8 starts with the byte a surrogate would)", "\\u escaped: \u00e9"],
)
async def test_storable_text_reaches_the_route(client: httpx.AsyncClient, text: str) -> None:
    answer = await client.post("/api/v1/notes", json={"text": text})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"text": text}
