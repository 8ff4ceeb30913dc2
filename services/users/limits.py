"""How often the users service lets anyone try to sign up or sign in.

Two limits, both answering 429 with ``Retry-After``:

* **per client address**, every register and login call: blunts password spraying
  (one password tried on many accounts) and sign-up floods sent straight to this
  service.  A BFF's calls are not counted here: the BFF counts them per client
  address itself, and counting them again under the BFF's own address would let
  one abuser lock every BFF user out.  A BFF says who it is with a short-lived
  token carrying the ``bff`` role (:data:`shared.auth.BFF_ROLE`).
* **failed logins per account** (the normalised email), wherever the login comes
  from: through either BFF or straight here, from any number of addresses.  A
  login takes one attempt before its password is checked and gives it back when
  the password was right, so only failures count and concurrent guesses cannot
  all slip past a check made before any of them failed.  Once the failures are
  used up even the right password is refused until an attempt refills: answering
  it would tell a guesser which of its refused guesses was right.
"""

from __future__ import annotations

import time

from fastapi import Request

from shared.auth import BFF_ROLE, InvalidToken, verify_token
from shared.clock import Clock
from shared.settings import Settings
from shared.web.ratelimit import RateLimiter


class SignInLimits:
    """The users service's sign-up and sign-in limits (one per process, in memory)."""

    def __init__(self, settings: Settings, *, clock: Clock = time.monotonic) -> None:
        self.per_client = RateLimiter(
            settings.users_auth_rate_limit, settings.users_auth_rate_window_seconds, clock=clock
        )
        self.failures_per_account = RateLimiter(
            settings.login_failure_limit, settings.login_failure_window_seconds, clock=clock
        )

    def count_call(self, request: Request) -> None:
        """Count a register or login call against the caller's address, unless a BFF made it."""
        if not _from_bff(request):
            address = request.client.host if request.client else "unknown"
            self.per_client.check(address, "sign-ups and sign-ins from this address")

    def start_login(self, account: str) -> None:
        """Take one of ``account``'s failed-login attempts; 429 when none is left."""
        self.failures_per_account.check(account, "failed logins for this account")

    def not_a_failure(self, account: str) -> None:
        """Give back the attempt :meth:`start_login` took: the password was right (or was
        never checked, the database failing first)."""
        self.failures_per_account.refund(account)


def _from_bff(request: Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        principal = verify_token(request.app.state.jwt_key, token)
    except InvalidToken:
        return False  # a bad token on a public path is a caller like any other
    return BFF_ROLE in principal.roles
