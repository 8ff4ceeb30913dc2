"""Request and response bodies of the users API (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from services.users.countries import COUNTRY_CODES
from services.users.domain import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, country_code
from shared.web.schemas import CamelModel as ApiModel
from shared.web.schemas import Input

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


class Registration(Input):
    email: EmailStr = Field(max_length=320)
    password: Password
    name: Name | None = None


class Credentials(Input):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(
        min_length=1, max_length=PASSWORD_MAX_LENGTH, json_schema_extra={"format": "password"}
    )


class UserOut(ApiModel):
    id: str
    email: str
    name: str | None


class UserDetails(UserOut):
    created_at: datetime


class Session(ApiModel):
    user_id: str
    token: str = Field(description="A bearer JWT (HS256) for every OMS service")


class AddressIn(Input):
    line1: AddressLine
    line2: AddressLine | None = None
    city: City
    postal_code: PostalCode
    country: CountryCode


class AddressOut(ApiModel):
    id: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
