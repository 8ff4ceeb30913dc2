"""A running users service on either stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import httpx
import pytest

from services.users.app import build_app
from tests.support.harness import ServiceUnderTest, running
from tests.support.stack import Stack
from tests.support.system import CHEAP_HASHER, PASSWORD


@dataclass
class Users(ServiceUnderTest):
    """The users service under test, hashing passwords cheaply."""

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
    async with running(Users, stack, partial(build_app, hasher=CHEAP_HASHER), "users") as users:
        yield users
