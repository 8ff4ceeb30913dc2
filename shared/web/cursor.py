"""The one cursor codec of every newest-first listing (orders, sagas, and the BFFs
that pass an orders cursor on).

A cursor is opaque to its caller: the ``(created_at, id)`` of the last row of a
page, as compact JSON in unpadded URL-safe base64.  Only text this codec could
have written is a position; anything else is refused the same way everywhere,
422 naming ``cursor`` (docs/design.md, HTTP contracts: bad input gets a 4xx naming the field).
Padded cursors and JSON written with spaces still decode, so a cursor handed out
by an earlier release keeps its place.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

from shared.web.problems import Unprocessable
from shared.web.schemas import unstorable

CursorQuery = Annotated[
    str | None, Query(max_length=500, description="the previous page's nextCursor")
]
"""The ``cursor`` query parameter of a paged listing."""

NOT_HANDED_OUT = "cursor: not a cursor this API handed out"


@dataclass(frozen=True)
class Position:
    """Where a newest-first page ended: the last row's creation time and id."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> Position | None:
    """The position ``text`` names (None for the first page), or :class:`Unprocessable`
    naming ``cursor`` when it is not a cursor this codec wrote."""
    if not text:
        return None
    unpadded = text.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        created_at, row_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        # In UTC, as every row's time is stored and compared: a time at either end
        # of the calendar whose offset would carry it past year 1 or 9999 is no
        # row's, and would overflow when bound to a query.
        utc = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        raise Unprocessable(NOT_HANDED_OUT, field="cursor") from None
    # The text is only base64: what it holds must be what this codec would have put there.
    if utc is None or not isinstance(row_id, str) or unstorable(row_id):
        raise Unprocessable(NOT_HANDED_OUT, field="cursor")
    return Position(utc, row_id)
