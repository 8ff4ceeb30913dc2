"""Domain errors become problem answers at the HTTP edge, and dead letters at the
message edge, each with the text the edge chooses."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.messaging.transport import PoisonMessage, dead_letter_on
from shared.web.problems import (
    Conflict,
    DomainProblems,
    NotFound,
    install_domain_problems,
    install_problem_handlers,
)


class ShopError(Exception):
    pass


class Missing(ShopError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} does not exist")
        self.what = what


class VeryMissing(Missing):
    pass


class Taken(ShopError):
    def __init__(self, held: int) -> None:
        super().__init__(f"{held} are held")
        self.held = held


PROBLEMS: DomainProblems = {
    Missing: lambda e: NotFound(f"{e.what} not found"),
    Taken: lambda e: Conflict(str(e), field="quantity", held=e.held),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_domain_problems(app, PROBLEMS)

    @app.get("/missing")
    async def missing() -> None:
        raise Missing("shelf")

    @app.get("/very-missing")
    async def very_missing() -> None:
        raise VeryMissing("box")

    @app.get("/taken")
    async def taken() -> None:
        raise Taken(3)

    @app.get("/other")
    async def other() -> None:
        raise ShopError("not in the table")

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_a_domain_error_answers_the_problem_its_table_gives_with_the_edges_words() -> None:
    response = await _get("/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "shelf not found",
        "instance": "/missing",
    }


async def test_a_problem_names_the_field_and_figures_the_table_adds() -> None:
    body = (await _get("/taken")).json()
    assert (body["status"], body["detail"]) == (409, "3 are held")
    assert (body["field"], body["held"]) == ("quantity", 3)


async def test_a_subclass_answers_as_its_nearest_listed_ancestor() -> None:
    response = await _get("/very-missing")
    assert (response.status_code, response.json()["detail"]) == (404, "box not found")


async def test_an_error_missing_from_the_table_is_an_unexpected_500() -> None:
    response = await _get("/other")
    assert response.status_code == 500
    assert response.json()["detail"] == "unexpected error"


def test_a_listed_error_leaves_the_message_edge_as_a_dead_letter_with_its_text() -> None:
    with pytest.raises(PoisonMessage) as raised, dead_letter_on(Taken, Missing):
        raise Missing("crate")
    assert str(raised.value) == "crate does not exist"
    assert isinstance(raised.value.__cause__, Missing)


def test_an_error_not_listed_passes_the_message_edge_unchanged() -> None:
    with pytest.raises(Taken), dead_letter_on(Missing):
        raise Taken(1)
