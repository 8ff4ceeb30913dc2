"""Who may call what, across the four services (embedded stack: auth does not
depend on the transport or the database).

Each service's own tests prove its core paths: a missing, forged or expired token
is 401 (orders: every path; inventory: its ops paths; users: ``GET /users/{id}``;
payments: the payment-method reads), another user's data is 404 (orders, users,
payment methods) and the ops-only lists are 403 for a customer.  This module
covers the rest: the remaining paths of users and payments, and the
fault-injection paths that every service mounts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.auth import mint_token
from tests.support.stack import Stack, serve
from tests.support.system import SERVICE_FACTORIES

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

API = "/api/v1"
PROBLEM = "application/problem+json"
USER = "alice"
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}
SOME_ID = "5f0c8e7a-2b1d-4c3e-9a8b-000000000001"
SERVICES = ("orders", "inventory", "users", "payments")
FAULT_COMMANDS = {
    "orders": "order.confirm",
    "inventory": "inventory.reserve",
    "users": "payment.charge",  # users handles no command: any command name is valid input
    "payments": "payment.charge",
}
FAULT_RULES: dict[str, dict[str, Any]] = {
    **{s: {"message": c, "mode": "drop"} for s, c in FAULT_COMMANDS.items() if s != "users"},
    "users": {"route": "*", "mode": "error"},  # users handles no command: a route rule
}


@pytest.fixture
async def client(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The service named by the test's ``service`` parameter, faults enabled."""
    service: str = request.getfixturevalue("service")
    settings = stack.settings.model_copy(update={"faults_enabled": True})
    async with serve(SERVICE_FACTORIES[service](settings, stack.transport)) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bad_credentials(stack: Stack) -> dict[str, dict[str, str]]:
    """Every way a caller can fail to authenticate as ``USER``."""
    return {
        "missing": {},
        "forged": bearer(mint_token("a-different-secret-of-enough-length-000", sub=USER)),
        "expired": bearer(
            mint_token(stack.settings.jwt_key, sub=USER, now=datetime.now(UTC) - timedelta(hours=2))
        ),
    }


UNAUTHENTICATED: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("users", "GET", f"/users/{USER}/addresses", None),
    ("users", "POST", f"/users/{USER}/addresses", ADDRESS),
    ("users", "GET", f"/users/{USER}/addresses/{SOME_ID}", None),
    ("users", "GET", "/users", None),
    ("payments", "POST", f"/users/{USER}/payment-methods", {"token": "pm_card_ok"}),
    ("payments", "GET", f"/payments?orderId={SOME_ID}", None),
    ("payments", "GET", f"/payments/summary?orderId={SOME_ID}", None),
    ("payments", "GET", "/payments", None),
    *(
        (service, method, "/_faults", body)
        for service in SERVICES
        for method, body in [
            ("POST", {"message": FAULT_COMMANDS[service], "mode": "drop"}),
            ("GET", None),
            ("DELETE", None),
        ]
    ),
]


@pytest.mark.parametrize(
    ("service", "method", "path", "body"),
    UNAUTHENTICATED,
    ids=[f"{s}-{m}-{p.split('?')[0]}" for s, m, p, _ in UNAUTHENTICATED],
)
async def test_a_missing_forged_or_expired_token_is_401_problem(
    client: httpx.AsyncClient,
    stack: Stack,
    service: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    answers = {
        kind: await client.request(method, API + path, json=body, headers=headers)
        for kind, headers in bad_credentials(stack).items()
    }

    assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 401)
    assert {a.headers["content-type"] for a in answers.values()} == {PROBLEM}
    assert all(a.json()["status"] == 401 and a.json()["detail"] for a in answers.values())


FAULT_PATHS = [(service, method) for service in SERVICES for method in ("POST", "GET", "DELETE")]


@pytest.mark.parametrize(
    ("service", "method"), FAULT_PATHS, ids=[f"{s}-{m}" for s, m in FAULT_PATHS]
)
async def test_a_customer_on_the_fault_injection_paths_is_403_and_changes_nothing(
    client: httpx.AsyncClient, stack: Stack, service: str, method: str
) -> None:
    rule = FAULT_RULES[service]
    added = await client.post(f"{API}/_faults", json=rule, headers=stack.ops())
    assert added.status_code == 201, added.text

    answer = await client.request(
        method,
        f"{API}/_faults",
        json=rule if method == "POST" else None,
        headers=stack.auth(USER),
    )

    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert "ops" in answer.json()["detail"]
    rules = await client.get(f"{API}/_faults", headers=stack.ops())
    assert rules.json() == [added.json()]
