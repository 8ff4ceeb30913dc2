"""The users service's tables: accounts and their addresses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime


def new_id() -> str:
    return str(uuid.uuid4())


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=320)
    """As the user typed it, normalized (domain lower-cased)."""
    email_key: str = Field(max_length=320, unique=True)
    """Case-folded email: two spellings of one address cannot both register."""
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    """Either may be unknown: accounts made before names were asked for have none."""
    password_hash: str = Field(max_length=255)
    created_at: datetime = _created_at()


class Address(SQLModel, table=True):
    __tablename__ = "user_addresses"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    line1: str = Field(max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(max_length=100)
    postal_code: str = Field(max_length=20)
    country: str = Field(max_length=2)
    created_at: datetime = _created_at()
