"""Every paged listing reads its ``cursor`` with the one codec, so a cursor no
listing handed out gets the same answer from each of them: 422 naming ``cursor``."""

from __future__ import annotations

import base64

import pytest

from shared.web.cursor import NOT_HANDED_OUT
from tests.support.system import System, named_fields, problem_of

API = "/api/v1"

GARBLED = {
    "not base64 of anything": "not-a-cursor",
    "base64 of a list of numbers": base64.urlsafe_b64encode(b"[1,2]").decode(),
    "a time without its offset": base64.urlsafe_b64encode(b'["2024-01-01T00:00:00","a"]').decode(),
    "an id no database holds": base64.urlsafe_b64encode(
        b'["2024-01-01T00:00:00+00:00","a\\u0000"]'
    ).decode(),
    "a time that is before year 1 in UTC": base64.urlsafe_b64encode(
        b'["0001-01-01T00:00:00+14:00","a"]'
    ).decode(),
    "a time that is past year 9999 in UTC": base64.urlsafe_b64encode(
        b'["9999-12-31T23:59:59-14:00","a"]'
    ).decode(),
}

LISTINGS = ["orders", "saga", "bff-web", "bff-mobile"]


@pytest.mark.parametrize("listing", LISTINGS)
async def test_every_paged_listing_refuses_a_garbled_cursor_with_422_naming_cursor(
    system: System, listing: str, subtests: pytest.Subtests
) -> None:
    client, path, auth = {
        "orders": (system.services["orders"], "/orders", system.stack.ops()),
        "saga": (system.services["saga"], "/sagas", system.stack.ops()),
        "bff-web": (system.web, "/orders", system.stack.auth("mallory")),
        "bff-mobile": (system.mobile, "/orders", system.stack.auth("mallory")),
    }[listing]
    for what, cursor in GARBLED.items():
        with subtests.test(cursor=what):
            response = await client.get(f"{API}{path}", params={"cursor": cursor}, headers=auth)
            problem = problem_of(response, 422)
            assert named_fields(problem) == {"cursor"}, problem
            assert problem["detail"] == NOT_HANDED_OUT


async def test_a_cursor_handed_out_by_an_earlier_release_keeps_its_place(system: System) -> None:
    """The saga used to hand out padded base64 of spaced JSON; such a cursor still pages."""
    old = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "zz"]').decode()
    assert old.endswith("=")
    response = await system.services["saga"].get(
        f"{API}/sagas", params={"cursor": old}, headers=system.stack.ops()
    )
    assert response.status_code == 200, response.text
