"""Opaque cursors for newest-first listing: the (created_at, id) of the last row seen."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from shared.web.schemas import unstorable


class InvalidCursor(ValueError):
    """A cursor this service did not hand out."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    order_id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.order_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at, order_id = json.loads(raw)
            moment = datetime.fromisoformat(created_at)
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise InvalidCursor("cursor: not a cursor this service handed out") from None
        if moment.tzinfo is None or not isinstance(order_id, str) or unstorable(order_id):
            raise InvalidCursor("cursor: not a cursor this service handed out")
        return cls(moment, order_id)
