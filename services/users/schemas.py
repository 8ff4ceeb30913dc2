"""Request and response bodies of the users API (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.users.countries import COUNTRY_CODES
from services.users.domain import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    country_code,
    full_name,
    split_name,
)
from services.users.models import User
from shared.web.schemas import CamelModel, RequestBody

CountryCode = Annotated[
    str,
    Field(
        description="ISO 3166-1 alpha-2, e.g. DE (either case)",
        examples=["DE"],
        json_schema_extra={"enum": sorted(COUNTRY_CODES | {c.lower() for c in COUNTRY_CODES})},
    ),
    AfterValidator(country_code),
]
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (PostgreSQL text cannot even hold NUL)."""
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_PRINTABLE)
]
Name = Line
AddressLine = Line
City = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_PRINTABLE)
]
PostalCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$"
    ),
]
Password = Annotated[
    # Taken exactly as typed: whitespace is part of a password.
    str,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"format": "password"},
    ),
]


class Registration(RequestBody):
    """``{email, password, firstName, lastName}``.

    The older ``{email, password, name}`` is still accepted while clients move
    over: ``name`` is split into first and last name at its first space (see
    :func:`~services.users.domain.split_name`); giving it beside ``firstName`` or
    ``lastName`` is a 422.  A name may also be left out, as before.
    """

    email: EmailStr = Field(max_length=320)
    password: Password
    first_name: Name | None = Field(default=None, examples=["Ada"])
    last_name: Name | None = Field(default=None, examples=["Lovelace"])
    name: Name | None = Field(
        default=None,
        description="the whole name, split at its first space; send firstName and lastName",
        # Marked in the schema only: pydantic's own flag warns on every read of the field.
        json_schema_extra={"deprecated": True},
    )

    @field_validator("name")
    @classmethod
    def _not_both(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None and (info.data.get("first_name") or info.data.get("last_name")):
            raise ValueError("give firstName and lastName, or name, not both")
        return name

    @model_validator(mode="after")
    def _split_the_old_name(self) -> Registration:
        if self.name is not None:
            self.first_name, self.last_name = split_name(self.name)
        return self


class Credentials(RequestBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(
        min_length=1, max_length=PASSWORD_MAX_LENGTH, json_schema_extra={"format": "password"}
    )


class UserDetails(CamelModel):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    name: str | None = Field(description="first and last name joined, for display")
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserDetails:
        return cls.read(user, name=full_name(user.first_name, user.last_name))


class Session(CamelModel):
    user_id: str
    token: str = Field(description="A bearer JWT (HS256) for every OMS service")


class Registered(CamelModel):
    """A new account, signed in: ``{userId, email, token}``."""

    user_id: str
    email: str
    token: str = Field(description="A bearer JWT (HS256) for every OMS service")


class AddressIn(RequestBody):
    line1: AddressLine
    line2: AddressLine | None = None
    city: City
    postal_code: PostalCode
    country: CountryCode


class AddressOut(CamelModel):
    id: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
