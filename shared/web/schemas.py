"""Building blocks of every HTTP API's bodies: camelCase JSON, strict input.

Message bodies have their own base in :mod:`shared.messages`; these are for
request and response bodies of the services, the saga and the BFFs.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A body in camelCase JSON, also buildable from snake_case field names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    @classmethod
    def read(cls, source: object, **computed: Any) -> Self:
        """This body with each field read from ``source``'s attribute of the same name
        (a row, a domain object, another body), but for the ``computed`` ones."""
        read = {name: getattr(source, name) for name in cls.model_fields if name not in computed}
        return cls(**read, **computed)


class RequestBody(CamelModel):
    """A request body: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


def _json_integer(value: object) -> object:
    """JSON integers only: ``3`` and ``3.0`` (one number in JSON), never ``"3"`` or ``true``."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be an integer")
    return value


JsonInteger = BeforeValidator(_json_integer)
"""Goes after an ``int`` field's constraints, so they stay in the JSON schema."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217, upper case."""

INT32_MAX = 2**31 - 1
"""The largest value of an ``INTEGER`` column on PostgreSQL (``serial`` ids among them)."""
NO_NUL = r"^[^\x00]*$"
"""The pattern every text parameter documents: PostgreSQL text cannot hold NUL."""


def unstorable(text: str) -> str | None:
    """Why no database could store ``text`` (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None


def _storable(text: str) -> str:
    problem = unstorable(text)
    if problem is not None:
        raise ValueError(problem)
    return text


Text = Annotated[str, StringConstraints(pattern=NO_NUL), AfterValidator(_storable)]
"""Free text a database can store: no NUL, no lone surrogate."""

SAFE_ID = r"^[A-Za-z0-9._:@-]+$"
"""What an id may hold: letters, digits and ``. _ : @ -``.  Ids become URL path
segments, log fields and cells of an operator's table: never a space, a slash,
a bracket or anything a terminal or a page could read as markup."""

SafeId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SAFE_ID)]
"""An opaque id made by a client (a product, a payment method, an address), in :data:`SAFE_ID`."""

RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]
"""An integer row id (an ``INTEGER`` primary key): positive, within the column's range."""
