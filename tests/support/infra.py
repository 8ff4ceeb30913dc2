"""Real infrastructure for tests: a fresh RabbitMQ vhost and a fresh PostgreSQL
database per test, so tests never see each other's queues or rows.

Under ``CI=true`` a broker or database that cannot be reached fails the test;
elsewhere it skips it, so a laptop without RabbitMQ can still run the rest.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import functools
import os
import secrets
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import asyncpg
import httpx
import pytest

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() == "true"
AMQP_BASE = os.environ.get("OMS_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672")
MANAGEMENT_URL = os.environ.get("OMS_TEST_MANAGEMENT_URL", "http://127.0.0.1:15672")
PG_ADMIN_DSN = os.environ.get("OMS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable: {error!r}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: real infrastructure is mandatory)")
    pytest.skip(message)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every management API client of the process: httpx would
    load the CA bundle anew for each (tens of milliseconds), that is for every test."""
    return ssl.create_default_context()


class RabbitVhost:
    """A throw-away vhost created through the management API."""

    def __init__(self) -> None:
        self.name = f"oms-test-{uuid.uuid4().hex[:10]}"
        self._api = httpx.Client(
            base_url=MANAGEMENT_URL, auth=("guest", "guest"), timeout=30, verify=_tls()
        )
        self._users: list[str] = []

    @property
    def url(self) -> str:
        return f"{AMQP_BASE}/{quote(self.name, safe='')}"

    def create(self) -> None:
        vhost = quote(self.name, safe="")
        self._api.put(f"/api/vhosts/{vhost}").raise_for_status()
        self._api.put(
            f"/api/permissions/{vhost}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._api.request(
            method, path.replace("{vhost}", quote(self.name, safe="")), **kwargs
        )

    def connection_names(self) -> list[str]:
        """The vhost's client connections as the management API lists them.

        The list is refreshed with the broker's statistics (every few seconds), so a
        connection opened or closed a moment ago may not show yet: poll it."""
        response = self.api("GET", "/api/vhosts/{vhost}/connections")
        response.raise_for_status()
        return sorted(str(c["name"]) for c in response.json())

    def close_connections(self, timeout: float = 15.0) -> list[str]:
        """Close every client connection of this vhost (what ``rabbitmqctl
        close_all_connections -p <vhost>`` does), through the management API.

        Waits until the vhost's connections are listed, so it never closes nothing;
        returns the names of the connections it closed."""
        deadline = time.monotonic() + timeout
        names = self.connection_names()
        while not names:
            if time.monotonic() > deadline:
                raise AssertionError(f"no connection listed for vhost {self.name} to close")
            time.sleep(0.1)
            names = self.connection_names()
        for name in names:
            closed = self._api.delete(
                f"/api/connections/{quote(name, safe='')}",
                headers={"X-Reason": "test: closed on purpose"},
            )
            # 404: it went away on its own between the listing and the delete.
            if closed.status_code != 404:
                closed.raise_for_status()
        return names

    def publish(
        self, exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]
    ) -> None:
        """Publish through the management API, which sends exactly the ``properties``
        given: AMQP clients give every message a ``message_id`` of their own."""
        response = self.api(
            "POST",
            f"/api/exchanges/{{vhost}}/{quote(exchange, safe='')}/publish",
            json={
                "properties": properties,
                "routing_key": routing_key,
                "payload": base64.b64encode(body).decode(),
                "payload_encoding": "base64",
            },
        )
        response.raise_for_status()
        assert response.json()["routed"], f"nothing bound to {exchange!r} for {routing_key!r}"

    def component_urls(self) -> dict[str, str]:
        """Make the topology in this vhost (as ``oms topology apply`` does) and give
        each component's broker user its permissions here; their broker URLs by
        component.  The users (``<component>.oms-test-<random>``, random passwords)
        are made once per test process and deleted when it exits: making a user
        costs the broker a password hash, and every stack needs seven."""
        from oms.topology import apply_topology
        from shared.messaging.topology import standard_topology

        users = _process_users()
        made = _MADE.issuperset(c.user for c in users.values())
        apply_topology(
            self._api,
            vhost=self.name,
            topology=standard_topology(),
            users=users,
            make_users=not made,
        )
        _MADE.update(c.user for c in users.values())
        base = AMQP_BASE.split("@", 1)[1]
        vhost = quote(self.name, safe="")
        return {
            component: f"amqp://{quote(c.user, safe='')}:{quote(c.password, safe='')}@{base}/{vhost}"
            for component, c in users.items()
        }

    def adopt_users(self, users: Iterable[str]) -> None:
        """Delete ``users`` with the vhost (made by a test through ``oms topology apply``)."""
        self._users.extend(users)

    def delete(self) -> None:
        self._api.delete(f"/api/vhosts/{quote(self.name, safe='')}")
        for user in self._users:
            self._api.delete(f"/api/users/{quote(user, safe='')}")
        self._api.close()


_USERS: dict[str, Any] = {}
"""This process's broker users by component (:func:`_process_users`)."""
_MADE: set[str] = set()
"""Those of them made on the broker."""


def _process_users() -> dict[str, Any]:
    """This process's broker user per component (credentials only: the first stack
    makes them on the broker); they are deleted when the process exits."""
    from oms.topology import Credentials
    from shared.messaging.topology import BROKER_USERS

    if _USERS:
        return _USERS
    suffix = f"oms-test-{uuid.uuid4().hex[:10]}"
    _USERS.update(
        {
            component: Credentials(f"{component}.{suffix}", secrets.token_urlsafe(16))
            for component in BROKER_USERS
        }
    )
    atexit.register(_delete_process_users, [c.user for c in _USERS.values()])
    return _USERS


def _delete_process_users(users: list[str]) -> None:
    """At exit: a broker gone by then keeps them (``oms-test-`` names tell them apart)."""
    with (
        contextlib.suppress(httpx.HTTPError),
        httpx.Client(base_url=MANAGEMENT_URL, auth=("guest", "guest"), timeout=30) as api,
    ):
        for user in users:
            api.delete(f"/api/users/{quote(user, safe='')}")


async def create_database(template: str | None = None) -> str:
    """A new database, empty or a copy of ``template`` (which nobody may be connected to)."""
    name = f"oms_test_{uuid.uuid4().hex[:10]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copied}')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Databases:
    """New databases (empty, or copies of ``template``) for one test process, each
    made while the test before runs and dropped while the test after runs, on a
    thread of their own: a test waits for neither."""

    def __init__(self, template: str | None = None) -> None:
        self._template = template
        self._work = ThreadPoolExecutor(1, thread_name_prefix="databases")
        self._next = self._made()

    def _made(self) -> Future[str]:
        return self._work.submit(lambda: asyncio.run(create_database(self._template)))

    def take(self) -> str:
        """A database of the test's own (made ahead), and the next one started."""
        name, self._next = self._next.result(), self._made()
        return name

    def drop(self, name: str) -> None:
        self._work.submit(lambda: asyncio.run(drop_database(name)))

    def close(self) -> None:
        """Drop the one made ahead, once every drop asked for is done."""
        with contextlib.suppress(Exception):
            self.drop(self._next.result())
        self._work.shutdown(wait=True)


def pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def body_of(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body ``response`` carries, after checking its status."""
    assert response.status_code == status, response.text
    return response.json()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 15.0,  # noqa: ASYNC109 - a polling budget, not a cancellation scope
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until ``until(result)`` holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {result!r}")
        await asyncio.sleep(interval)
