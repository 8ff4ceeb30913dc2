"""``If-None-Match`` against the compact order's ``ETag``: the piece behind 304s."""

from __future__ import annotations

import pytest

from bff_mobile.conditional import etag_of, matches


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("*", True),
        ('"{opaque}"', True),  # a strong tag matches weakly
        ('W/"other", W/"{opaque}"', True),
        ('W/"other"', False),
    ],
)
def test_if_none_match_compares_weakly_against_every_listed_tag(
    header: str | None, expected: bool
) -> None:
    etag = etag_of(b'{"id":"o1","status":"confirmed"}')
    opaque = etag.removeprefix("W/").strip('"')

    assert matches(None if header is None else header.format(opaque=opaque), etag) is expected
