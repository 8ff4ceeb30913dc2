"""JWTs: minted by the users service (and ``oms token``), verified everywhere.

HS256 with ``OMS_JWT_SECRET``; the algorithm is pinned on verification so a
token cannot choose its own (``none``, or an asymmetric confusion).

A caller sends the same token with every request, and each service it reaches
verifies it again: the outcome of a successful verification is remembered (per
secret and token) and only the expiry is checked once more.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
OPS_ROLE = "ops"
FULFILMENT_ROLE = "fulfilment"
"""Held by a warehouse: it reads every order and marks them shipped and delivered."""
BFF_ROLE = "bff"
"""Held by a BFF's own short-lived tokens: the users service then leaves per-address
sign-in limits to the BFF, which knows the client's address."""
VERIFIED_TOKENS_KEPT = 4096
"""How many successfully verified tokens are remembered (least recently used go first)."""


class InvalidToken(Exception):
    """Missing, malformed, forged or expired."""


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]
    expires_at: float = math.inf
    """When the token it came from expires (POSIX seconds): what lasts longer than
    one request, an event stream, ends then."""

    @property
    def is_ops(self) -> bool:
        return OPS_ROLE in self.roles

    @property
    def may_fulfil(self) -> bool:
        """Whether the caller ships and delivers orders: a warehouse, or ops."""
        return FULFILMENT_ROLE in self.roles or self.is_ops

    def may_see(self, user_id: str) -> bool:
        """Whether the caller reaches ``user_id``'s data: their own, or anyone's for ops."""
        return self.sub == user_id or self.is_ops


def mint_token(
    secret: str,
    *,
    sub: str,
    roles: list[str] | tuple[str, ...] = ("customer",),
    ttl_seconds: int = 3600,
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": sub,
        "roles": list(roles),
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_seconds),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, *, now: datetime | None = None) -> Principal:
    """Who the token speaks for; :class:`InvalidToken` if it is forged, malformed or expired."""
    principal, expires_at = _verify(secret, token)
    if expires_at <= (now.timestamp() if now else time.time()):
        raise InvalidToken("token expired")
    return principal


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verify(secret: str, token: str) -> tuple[Principal, int]:
    """The principal and expiry of a token with a valid signature and claims.

    Only successes are cached (an exception is never remembered); signature,
    algorithm, ``nbf`` and ``iat`` do not change their verdict as time passes,
    ``exp`` does, so :func:`verify_token` checks it on every call.
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    roles = claims.get("roles") or []
    if not isinstance(roles, list):
        raise InvalidToken("invalid token: roles must be a list")
    expires_at = int(claims["exp"])
    principal = Principal(
        sub=str(claims["sub"]), roles=frozenset(str(r) for r in roles), expires_at=expires_at
    )
    return principal, expires_at
