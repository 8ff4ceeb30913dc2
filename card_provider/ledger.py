"""Charges and refunds in the provider's database, each decided once per idempotency key.

Every write runs in one transaction that first looks for the key's row: found,
the request is answered from it (the same body: the first answer; another body:
the caller reused a key, :class:`KeyReused`); not found, the request is decided
and its row inserted.  Two requests with one key at once cannot both insert (the
key is unique): the loser's transaction fails and it answers from the winner's
row.  On SQLite every write transaction is serialised anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from card_provider.cards import Cards, Code, Decision
from card_provider.tables import CHARGES, REFUNDS
from shared.clock import utcnow
from shared.persistence.database import Database
from shared.web.idempotency import fingerprint

CAPTURED, DECLINED = "captured", "declined"
SUCCEEDED = "succeeded"
VOID_FINGERPRINT = "void"
"""The fingerprint of the row a void leaves for a key no charge had used."""


class KeyReused(Exception):
    """The idempotency key was used before for another request."""


class UnknownCharge(Exception):
    """A refund names a charge the provider never made."""


@dataclass(frozen=True)
class Answer:
    """A charge or refund row, and whether it answered an earlier request (a replay)."""

    row: dict[str, Any]
    replayed: bool


async def _by_key(conn: AsyncConnection, table: Any, key: str) -> RowMapping | None:
    found = await conn.execute(select(table).where(table.c.idempotency_key == key))
    return found.mappings().first()


def _replay(row: RowMapping, digest: str) -> Answer:
    if row["fingerprint"] not in (digest, VOID_FINGERPRINT):
        raise KeyReused("this Idempotency-Key was used for another request")
    return Answer(dict(row), replayed=True)


def _decided(decision: Decision, approved: str) -> dict[str, Any]:
    return {
        "status": approved if decision.approved else DECLINED,
        "code": decision.code,
        "reason": decision.reason,
    }


async def _record(
    conn: AsyncConnection, table: Any, prefix: str, key: str, digest: str, **fields: Any
) -> Answer:
    """Insert the first answer to ``key``: a new row of ``table`` (its id starting
    ``prefix``) holding ``fields`` and the request's fingerprint ``digest``."""
    row = {
        "id": f"{prefix}_{uuid.uuid4().hex}",
        "idempotency_key": key,
        "fingerprint": digest,
        **fields,
        "created_at": utcnow(),
    }
    await conn.execute(insert(table).values(row))
    return Answer(row, replayed=False)


class Ledger:
    """The provider's charges and refunds."""

    def __init__(self, db: Database, cards: Cards) -> None:
        self.db = db
        self.cards = cards

    async def _once(self, attempt: Callable[[AsyncConnection], Awaitable[Answer]]) -> Answer:
        """Run ``attempt`` in a transaction; once more if a concurrent request with the
        same key inserted first, which the second run then finds and replays."""
        try:
            async with self.db.engine.begin() as conn:
                return await attempt(conn)
        except IntegrityError:
            async with self.db.engine.begin() as conn:
                return await attempt(conn)

    async def charge(self, key: str, token: str, amount: int, currency: str) -> Answer:
        """Charge ``amount`` to ``token`` once per ``key``."""
        digest = fingerprint({"token": token, "amount": amount, "currency": currency})

        async def attempt(conn: AsyncConnection) -> Answer:
            existing = await _by_key(conn, CHARGES, key)
            if existing is not None:
                return _replay(existing, digest)
            decision = self.cards.decide_charge(token, amount)
            return await _record(
                conn,
                CHARGES,
                "ch",
                key,
                digest,
                token=token,
                amount=amount,
                currency=currency,
                **_decided(decision, CAPTURED),
            )

        return await self._once(attempt)

    async def void(self, key: str) -> Answer:
        """What the charge sent with ``key`` did; if none was, the key is voided: a
        charge arriving with it later is answered ``declined`` (code ``voided``) and
        captures nothing."""

        async def attempt(conn: AsyncConnection) -> Answer:
            existing = await _by_key(conn, CHARGES, key)
            if existing is not None:
                return Answer(dict(existing), replayed=True)
            return await _record(
                conn,
                CHARGES,
                "ch",
                key,
                VOID_FINGERPRINT,
                token=None,
                amount=0,
                currency="XXX",  # ISO 4217: no currency (nothing was charged)
                status=DECLINED,
                code=Code.VOIDED,
                reason="the charge was voided before it arrived",
            )

        return await self._once(attempt)

    async def refund(self, key: str, charge_id: str, amount: int) -> Answer:
        """Pay back ``amount`` of charge ``charge_id`` once per ``key``."""
        digest = fingerprint({"charge": charge_id, "amount": amount})

        async def attempt(conn: AsyncConnection) -> Answer:
            existing = await _by_key(conn, REFUNDS, key)
            if existing is not None:
                return _replay(existing, digest)
            # The charge row is locked: two refunds of one charge cannot both pay
            # back what is left of it.
            found = await conn.execute(
                select(CHARGES).where(CHARGES.c.id == charge_id).with_for_update()
            )
            charge = found.mappings().first()
            if charge is None:
                raise UnknownCharge(f"no charge {charge_id}")
            refundable = 0
            if charge["status"] == CAPTURED:
                refundable = charge["amount"] - await _refunded(conn, charge_id)
            decision = self.cards.decide_refund(charge["token"], amount, refundable)
            return await _record(
                conn,
                REFUNDS,
                "re",
                key,
                digest,
                charge_id=charge_id,
                amount=amount,
                **_decided(decision, SUCCEEDED),
            )

        return await self._once(attempt)

    async def charge_by_id(self, charge_id: str) -> tuple[dict[str, Any], int] | None:
        """A charge and what was paid back of it."""
        async with self.db.engine.connect() as conn:
            found = await conn.execute(select(CHARGES).where(CHARGES.c.id == charge_id))
            charge = found.mappings().first()
            if charge is None:
                return None
            return dict(charge), await _refunded(conn, charge_id)

    async def balance(self) -> tuple[int, int]:
        """Everything captured and everything paid back, over every charge."""
        async with self.db.engine.connect() as conn:
            captured = await conn.scalar(
                select(func.coalesce(func.sum(CHARGES.c.amount), 0)).where(
                    CHARGES.c.status == CAPTURED
                )
            )
            refunded = await conn.scalar(
                select(func.coalesce(func.sum(REFUNDS.c.amount), 0)).where(
                    REFUNDS.c.status == SUCCEEDED
                )
            )
        return int(captured or 0), int(refunded or 0)


async def _refunded(conn: AsyncConnection, charge_id: str) -> int:
    paid_back = await conn.scalar(
        select(func.coalesce(func.sum(REFUNDS.c.amount), 0)).where(
            REFUNDS.c.charge_id == charge_id, REFUNDS.c.status == SUCCEEDED
        )
    )
    return int(paid_back or 0)
