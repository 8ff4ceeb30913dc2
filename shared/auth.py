"""JWTs: minted by the users service (and ``oms token``), verified everywhere.

HS256 with ``OMS_JWT_SECRET``; the algorithm is pinned on verification so a
token cannot choose its own (``none``, or an asymmetric confusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
OPS_ROLE = "ops"


class InvalidToken(Exception):
    """Missing, malformed, forged or expired."""


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]

    @property
    def is_ops(self) -> bool:
        return OPS_ROLE in self.roles


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


def verify_token(secret: str, token: str) -> Principal:
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
    return Principal(sub=str(claims["sub"]), roles=frozenset(str(r) for r in roles))
