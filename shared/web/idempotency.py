"""The ``Idempotency-Key`` header, as every OMS write that honours it reads it.

A caller that did not hear back sends the same request again with the same key;
the first answer comes back (marked ``Idempotent-Replayed: true``) and nothing
happens twice.  The same key with another body is a caller bug (422).  Where the
answers are stored differs (the BFFs, the orders service); the header, its rules
and the body digest are the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on an answer given before, to an earlier request with the same key."""
MAX_KEY_LENGTH = 200


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="any unique string of visible ASCII (a UUID), per user; a retry with "
        "the same key and body gets the first answer and nothing happens twice",
    ),
]
"""The optional ``Idempotency-Key`` request header."""


def fingerprint(body: Any) -> str:
    """SHA-256 (hex) of a body as canonical JSON: key order and spacing do not
    matter, any value that does makes another digest."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # ``surrogatepass``: a lone surrogate (JSON can spell one) still makes a digest,
    # and every valid text makes the same digest as plain UTF-8 always did.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
