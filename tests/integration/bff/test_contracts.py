"""The contracts the product design fixes, end to end on both stacks: sign-up with
first and last name, products created through BFF-Web, the ``products`` exchange,
and why a checkout ended."""

from __future__ import annotations

import uuid

from tests.support.replies import Replies
from tests.support.system import PASSWORD, System, named_fields, problem_of

API = "/api/v1"


async def test_sign_up_through_bff_web_with_first_and_last_name(system: System) -> None:
    users_events = await Replies.listen(system.stack.transport, "users")
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    signed_up = await system.web.post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"},
    )

    assert signed_up.status_code == 201, signed_up.text
    body = signed_up.json()
    assert set(body) == {"userId", "email", "token"}
    assert body["email"] == email
    user_id, auth = body["userId"], {"Authorization": f"Bearer {body['token']}"}
    # Signed in already: the token reaches the user's own data.
    orders = await system.web.get(f"{API}/orders", headers=auth)
    assert (orders.status_code, orders.json()["items"]) == (200, [])
    profile = await system.services["users"].get(f"{API}/users/{user_id}", headers=auth)
    assert profile.status_code == 200, profile.text
    assert {k: profile.json()[k] for k in ("firstName", "lastName", "name")} == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "name": "Ada Lovelace",
    }
    [announced] = await users_events.wait(user_id)
    assert announced.decode().dump() == {
        "userId": user_id,
        "email": email,
        "firstName": "Ada",
        "lastName": "Lovelace",
    }

    # The older single name is still taken (split at its first space) ...
    older = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"old-{email}", "password": PASSWORD, "name": "Grace Brewster Hopper"},
    )
    assert older.status_code == 201, older.text
    older_id = older.json()["userId"]
    older_profile = await system.services["users"].get(
        f"{API}/users/{older_id}", headers={"Authorization": f"Bearer {older.json()['token']}"}
    )
    assert (older_profile.json()["firstName"], older_profile.json()["lastName"]) == (
        "Grace",
        "Brewster Hopper",
    )
    # ... but not beside firstName, and unknown fields are still refused.
    both = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"both-{email}", "password": PASSWORD, "name": "A B", "firstName": "A"},
    )
    assert "name" in named_fields(problem_of(both, 422))
    unknown = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"x-{email}", "password": PASSWORD, "nickname": "ada"},
    )
    assert "nickname" in named_fields(problem_of(unknown, 422))
