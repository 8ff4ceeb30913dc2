"""The users service on both stacks: accounts, login, addresses, and who may see what."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from services.users.app import build_app
from services.users.models import User
from shared.auth import mint_token, verify_token
from shared.messages import UserCreated
from shared.messaging.envelope import Envelope
from shared.persistence.outbox import pending_count
from tests.integration.services.users.conftest import Users
from tests.support.infra import eventually
from tests.support.stack import Stack, serve
from tests.support.system import CHEAP_HASHER, PASSWORD

API = "/api/v1"


def new_email() -> str:
    return f"ada-{uuid.uuid4().hex[:10]}@example.com"


def problem_fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


async def test_register_with_first_and_last_name_signs_in_and_announces_user_created(
    users: Users,
) -> None:
    email = new_email()
    created = await users.register(email, firstName="Ada", lastName="Lovelace")

    assert set(created) == {"userId", "email", "token"}
    assert created["email"] == email
    user_id = created["userId"]
    uuid.UUID(user_id)
    principal = verify_token(users.stack.settings.jwt_key, created["token"])
    assert (principal.sub, principal.roles) == (user_id, frozenset({"customer"}))
    seen = await eventually(
        lambda: asyncio.sleep(0, [e for e in users.replies.seen if e.type == "user.created"]),
        what="user.created",
    )
    assert [e.decode() for e in seen] == [
        UserCreated(user_id=user_id, email=email, first_name="Ada", last_name="Lovelace")
    ]
    assert seen[0].decode().dump() == {
        "userId": user_id,
        "email": email,
        "firstName": "Ada",
        "lastName": "Lovelace",
    }

    # The token the registration answered is good for the user's own profile.
    own = await users.client.get(
        f"{API}/users/{user_id}", headers={"Authorization": f"Bearer {created['token']}"}
    )
    assert own.status_code == 200
    details = own.json()
    assert details["email"] == email
    assert (details["firstName"], details["lastName"]) == ("Ada", "Lovelace")
    assert details["name"] == "Ada Lovelace"
    assert datetime.fromisoformat(details["createdAt"]).tzinfo is not None
    assert "passwordHash" not in details


@pytest.mark.parametrize(
    ("names", "first", "last"),
    [
        ({"name": "Ada King Lovelace"}, "Ada", "King Lovelace"),
        ({"name": "Plato"}, "Plato", None),
        ({"firstName": "Grace"}, "Grace", None),
        ({}, None, None),
    ],
    ids=["old-name-split", "old-one-word-name", "first-name-only", "no-name"],
)
async def test_register_still_takes_the_old_name_or_none(
    users: Users, names: dict[str, str], first: str | None, last: str | None
) -> None:
    response = await users.client.post(
        f"{API}/users/register", json={"email": new_email(), "password": PASSWORD, **names}
    )

    assert response.status_code == 201, response.text
    user_id = response.json()["userId"]
    details = (await users.client.get(f"{API}/users/{user_id}", headers=users.auth(user_id))).json()
    assert (details["firstName"], details["lastName"]) == (first, last)
    assert details["name"] == (" ".join(n for n in (first, last) if n) or None)


async def test_user_created_leaves_the_outbox_even_with_no_subscriber(stack: Stack) -> None:
    # No test queue bound to the users exchange: an event nobody listens to yet must
    # still be relayed (and dropped by the broker), never pile up in the outbox.
    app = build_app(stack.settings, stack.transport, hasher=CHEAP_HASHER)
    async with serve(app) as client:
        response = await client.post(
            f"{API}/users/register", json={"email": new_email(), "password": PASSWORD}
        )
        assert response.status_code == 201
        await eventually(lambda: pending_count(app.state.service.db), until=lambda n: n == 0)


async def test_login_issues_a_customer_jwt_for_the_user(users: Users) -> None:
    email = new_email()
    user = await users.register(email)

    response = await users.login(email.upper())  # emails compare case-insensitively

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] == user["userId"]
    principal = verify_token(users.stack.settings.jwt_key, body["token"])
    assert principal.sub == user["userId"]
    assert principal.roles == frozenset({"customer"})
    import jwt

    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == users.stack.settings.jwt_ttl_seconds
    me = await users.client.get(
        f"{API}/users/{user['userId']}", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert me.status_code == 200


async def test_a_second_registration_of_an_email_is_409_whatever_its_case(users: Users) -> None:
    email = new_email()
    await users.register(email)

    again = await users.client.post(
        f"{API}/users/register", json={"email": email.upper(), "password": PASSWORD}
    )

    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    async with users.service.db.sessions() as session:
        rows = (await session.exec(select(User))).all()
    assert len(rows) == 1


FULLWIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyz"})
"""Each ASCII lower-case letter to its fullwidth form (U+FF41…)."""
CYRILLIC_A = "\u0430"


async def test_look_alike_spellings_of_an_address_are_its_account_or_refused(
    users: Users,
) -> None:
    tag = str(uuid.uuid4().int)[:9]  # digits: they belong to every script
    strasse = await users.register(f"strasse.{tag}@example.com")
    ada = await users.register(f"ada.{tag}@example.com")

    # One account by the promised normal form (NFKC, case-folded): ß folds to ss,
    # fullwidth letters are their plain ones.  Signing in reaches that account and
    # registering again is the 409 of an address taken.
    for spelling, account in [
        (f"straße.{tag}@example.com", strasse),
        (f"{'ada'.translate(FULLWIDTH)}.{tag}@example.com", ada),
    ]:
        signed_in = await users.login(spelling)
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["userId"] == account["userId"]
        taken = await users.client.post(
            f"{API}/users/register", json={"email": spelling, "password": PASSWORD}
        )
        assert taken.status_code == 409, taken.text

    # A different address that reads as a taken one is no second account.
    for lookalike in [
        f"{CYRILLIC_A}da.{tag}@example.com",  # mixed Cyrillic and Latin
        f"ada.{tag}@ex{CYRILLIC_A}mple.com",  # in the domain too
        f"\u0455\u0441\u0430\u0440\u0435.{tag}@example.com",  # "scape", all Cyrillic
    ]:
        refused = await users.client.post(
            f"{API}/users/register", json={"email": lookalike, "password": PASSWORD}
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "email"
        assert (await users.login(lookalike)).status_code == 401
    # Letters of another script are an address like any other.
    welcome = await users.client.post(
        f"{API}/users/register",
        json={"email": f"\u0441\u0430\u0448\u0430.{tag}@example.com", "password": PASSWORD},
    )
    assert welcome.status_code == 201, welcome.text
    async with users.service.db.sessions() as session:
        emails = {row.email for row in (await session.exec(select(User))).all()}
    assert emails == {
        f"strasse.{tag}@example.com",
        f"ada.{tag}@example.com",
        f"\u0441\u0430\u0448\u0430.{tag}@example.com",
    }


async def test_wrong_password_and_unknown_email_get_the_same_401(users: Users) -> None:
    email = new_email()
    await users.register(email)

    wrong_password = await users.login(email, "not the password")
    unknown_email = await users.login(new_email())
    not_an_email = await users.login("nobody")

    for response in (wrong_password, unknown_email, not_an_email):
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid email or password"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "ada@example.com", "password": "short"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "ada@example.com", "password": PASSWORD, "name": "   "}, "name"),
        ({"email": "ada@example.com", "password": PASSWORD, "firstName": ""}, "firstName"),
        ({"email": "ada@example.com", "password": PASSWORD, "lastName": "a\x00b"}, "lastName"),
        (
            {"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "firstName": "A"},
            "name",
        ),
    ],
    ids=[
        "invalid-email",
        "short-password",
        "missing-email",
        "blank-name",
        "empty-first-name",
        "control-character-in-last-name",
        "name-and-first-name",
    ],
)
async def test_bad_registration_is_422_naming_the_field(
    users: Users, body: dict[str, Any], field: str
) -> None:
    response = await users.client.post(f"{API}/users/register", json=body)

    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert problem_fields(response.json()) == {field}


async def test_addresses_are_added_listed_and_read_back(users: Users) -> None:
    user = await users.register(new_email())
    headers = users.auth(user["userId"])
    home = {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "de"}
    work = {
        "line1": "2 Side St",
        "line2": "4th floor",
        "city": "Paris",
        "postalCode": "75001",
        "country": "FR",
    }

    created = []
    for body in (home, work):
        response = await users.client.post(
            f"{API}/users/{user['userId']}/addresses", json=body, headers=headers
        )
        assert response.status_code == 201, response.text
        created.append(response.json())

    assert created[0] == {
        "id": created[0]["id"],
        "line1": "1 Main St",
        "line2": None,
        "city": "Berlin",
        "postalCode": "10115",
        "country": "DE",
    }
    listed = await users.client.get(f"{API}/users/{user['userId']}/addresses", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == created
    one = await users.client.get(
        f"{API}/users/{user['userId']}/addresses/{created[1]['id']}", headers=headers
    )
    assert one.json() == created[1]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "DEU"}, "country"),
        ({"postalCode": ""}, "postalCode"),
        ({"line1": "bad\x00line"}, "line1"),
    ],
    ids=["unassigned-country", "alpha-3-country", "empty-postal-code", "control-character"],
)
async def test_bad_address_is_422_naming_the_field(
    users: Users, patch: dict[str, str], field: str
) -> None:
    user = await users.register(new_email())
    body = {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"} | patch

    response = await users.client.post(
        f"{API}/users/{user['userId']}/addresses", json=body, headers=users.auth(user["userId"])
    )

    assert response.status_code == 422
    assert problem_fields(response.json()) == {field}


async def test_another_users_profile_and_addresses_look_absent(users: Users) -> None:
    owner = await users.register(new_email())
    other = await users.register(new_email())
    address = await users.client.post(
        f"{API}/users/{owner['userId']}/addresses",
        json={"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"},
        headers=users.auth(owner["userId"]),
    )
    address_id = address.json()["id"]
    intruder = users.auth(other["userId"])

    for method, path in [
        ("GET", f"/users/{owner['userId']}"),
        ("GET", f"/users/{owner['userId']}/addresses"),
        ("GET", f"/users/{owner['userId']}/addresses/{address_id}"),
        ("GET", f"/users/{other['userId']}/addresses/{address_id}"),  # own path, their address
    ]:
        response = await users.client.request(method, API + path, headers=intruder)
        assert response.status_code == 404, path
    posted = await users.client.post(
        f"{API}/users/{owner['userId']}/addresses",
        json={"line1": "x", "city": "y", "postalCode": "1", "country": "DE"},
        headers=intruder,
    )
    assert posted.status_code == 404
    listed = await users.client.get(
        f"{API}/users/{owner['userId']}/addresses", headers=users.auth(owner["userId"])
    )
    assert len(listed.json()) == 1

    # Ops see everyone's data; an unknown user is 404 for them too.
    assert (
        await users.client.get(f"{API}/users/{owner['userId']}", headers=users.stack.ops())
    ).status_code == 200
    assert (
        await users.client.get(f"{API}/users/{uuid.uuid4()}", headers=users.stack.ops())
    ).status_code == 404


async def test_missing_forged_or_expired_token_is_401(users: Users) -> None:
    user = await users.register(new_email())
    path = f"{API}/users/{user['userId']}"
    forged = mint_token("another-secret-with-enough-bytes-for-hs256", sub=user["userId"])
    expired = mint_token(
        users.stack.settings.jwt_key,
        sub=user["userId"],
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(hours=1),
    )

    for headers in (
        {},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": "Bearer not-a-jwt"},
    ):
        response = await users.client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_finding_users_is_for_ops_only(users: Users) -> None:
    email = new_email()
    user = await users.register(email)

    as_customer = await users.client.get(f"{API}/users", headers=users.auth(user["userId"]))
    as_ops = await users.client.get(
        f"{API}/users", params={"email": email.upper()}, headers=users.stack.ops()
    )

    assert as_customer.status_code == 403
    assert as_ops.status_code == 200
    assert [u["id"] for u in as_ops.json()] == [user["userId"]]


async def test_login_upgrades_a_hash_made_with_older_parameters(stack: Stack) -> None:
    email = new_email()
    async with serve(build_app(stack.settings, stack.transport, hasher=CHEAP_HASHER)) as client:
        response = await client.post(
            f"{API}/users/register", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201

    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    app = build_app(stack.settings, stack.transport, hasher=stronger)
    async with serve(app) as client:
        login = await client.post(f"{API}/users/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200
        async with app.state.service.db.sessions() as session:
            [user] = (await session.exec(select(User))).all()
        assert not stronger.check_needs_rehash(user.password_hash)
        again = await client.post(f"{API}/users/login", json={"email": email, "password": PASSWORD})
        assert again.status_code == 200


async def test_user_created_is_published_once_on_the_users_exchange(users: Users) -> None:
    first = await users.register(new_email())
    second = await users.register(new_email())  # published after the first: a barrier

    def about(user_id: str) -> list[Envelope]:
        return [
            e
            for e in users.replies.seen
            if isinstance(event := e.decode(), UserCreated) and event.user_id == user_id
        ]

    await eventually(
        lambda: asyncio.sleep(0, about(second["userId"])), what="the second user.created"
    )

    [envelope] = about(first["userId"])
    assert (envelope.exchange, envelope.routing_key) == ("users", "user.created")
    assert (envelope.type, envelope.app_id) == ("user.created", "users")
    assert envelope.decode() == UserCreated(
        user_id=first["userId"], email=first["email"], first_name="Ada", last_name="Lovelace"
    )
    assert len(about(second["userId"])) == 1
    # The relay deletes a row once the broker confirmed it, which may be just after
    # the consumer got it.
    await eventually(lambda: pending_count(users.service.db), until=lambda n: n == 0)
