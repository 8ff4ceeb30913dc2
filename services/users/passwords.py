"""Password hashing with argon2id, off the event loop.

Hashing is deliberately slow (tens of milliseconds and 64 MiB with argon2's
defaults), so it runs in a worker thread and never stalls other requests.  The
:class:`~argon2.PasswordHasher` is injectable: production keeps argon2's
defaults, tests pass cheap parameters.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``.

        With no hash (no such account) a decoy hash is verified anyway, so an
        unknown email costs as much time as a wrong password and the timing
        does not reveal which accounts exist."""
        target = stored_hash if stored_hash is not None else await self._decoy_hash()
        try:
            await asyncio.to_thread(self._hasher.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(stored_hash)

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self.hash(secrets.token_urlsafe(16))
        return self._decoy
