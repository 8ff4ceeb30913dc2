"""A running users service on either stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher

from services.users.app import build_app
from shared.service import Service
from tests.support.replies import Replies
from tests.support.stack import Stack, serve

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Valid argon2id parameters that hash in microseconds, for tests only."""
PASSWORD = "correct horse battery"


@dataclass
class Users:
    stack: Stack
    client: httpx.AsyncClient
    service: Service
    events: Replies

    async def register(self, email: str, password: str = PASSWORD, **names: str) -> dict[str, str]:
        """A new account (``{userId, email, token}``); ``names`` are body fields
        (``firstName``, ``lastName``, ``name``), by default Ada Lovelace's."""
        body = {"email": email, "password": password} | (
            names or {"firstName": "Ada", "lastName": "Lovelace"}
        )
        response = await self.client.post("/api/v1/users/register", json=body)
        assert response.status_code == 201, response.text
        user: dict[str, str] = response.json()
        return user

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post(
            "/api/v1/users/login", json={"email": email, "password": password}
        )

    def auth(self, user_id: str) -> dict[str, str]:
        return self.stack.auth(user_id)


@pytest.fixture
async def users(stack: Stack) -> AsyncIterator[Users]:
    events = await Replies.listen(stack.transport, "users")
    app = build_app(stack.settings, stack.transport, hasher=CHEAP_HASHER)
    async with serve(app) as client:
        yield Users(stack, client, app.state.service, events)
