"""Loading the users service's rows: accounts by id or email, and their addresses."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.users.models import Address, User


class Users:
    """The users' rows in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: User | Address) -> None:
        self.session.add(row)

    async def get(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email_key(self, key: str) -> User | None:
        """The account whose case-folded email is ``key``."""
        return (await self.session.exec(select(User).where(User.email_key == key))).first()

    async def oldest_first(self, *, limit: int, email_key: str | None = None) -> list[User]:
        """Up to ``limit`` accounts in the order they were made, only ``email_key``'s if given."""
        stmt = select(User).order_by(col(User.created_at)).limit(limit)
        if email_key is not None:
            stmt = stmt.where(User.email_key == email_key)
        return list((await self.session.exec(stmt)).all())

    async def addresses(self, user_id: str) -> list[Address]:
        """The user's addresses in the order they were saved."""
        stmt = (
            select(Address)
            .where(Address.user_id == user_id)
            .order_by(col(Address.created_at), col(Address.id))
        )
        return list((await self.session.exec(stmt)).all())

    async def address(self, address_id: str) -> Address | None:
        return await self.session.get(Address, address_id)
