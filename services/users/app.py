"""Composition root of the users service."""

from __future__ import annotations

from argon2 import PasswordHasher
from fastapi import FastAPI

from services.users import api
from services.users.limits import SignInLimits
from services.users.passwords import Passwords
from shared.messaging.transport import Transport
from shared.service import domain_service_app
from shared.settings import Settings

DESCRIPTION = """Accounts, password hashes (argon2id), addresses, and JWT issuing.

`POST /users/register` and `POST /users/login` are public and rate-limited (429
with `Retry-After`): calls per client address, and failed logins per account
wherever they come from; the rest needs a bearer token, and a customer sees only
their own user."""


def build_app(
    settings: Settings, transport: Transport, *, hasher: PasswordHasher | None = None
) -> FastAPI:
    """The users app; ``hasher`` overrides argon2's default (costly) parameters."""
    app = domain_service_app("users", settings, transport, api, DESCRIPTION)
    app.state.passwords = Passwords(hasher)
    app.state.sign_in_limits = SignInLimits(settings)
    return app
