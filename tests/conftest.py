from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from oms.migrate import migrate_all
from shared.messaging.amqp import AmqpTransport
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.transport import Transport
from shared.service import Transports, open_transport
from shared.settings import SERVICES, Settings
from tests.support.infra import (
    Databases,
    RabbitVhost,
    create_database,
    drop_database,
    pg_url,
    unavailable,
)
from tests.support.stack import TEST_JWT_SECRET, TEST_PATIENCE, TEST_POOLS, Stack
from tests.support.system import System, running_system

T = TypeVar("T")

# pytest-xdist starts its workers with COLUMNS=80, and a Rich console made at import
# keeps the width it saw then: the CLI tests give each command its own COLUMNS.
os.environ.pop("COLUMNS", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow cases first, in the order they were found: on several workers they
    start at once and the quick ones fill the gaps, rather than one long case
    starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def rabbit_vhost() -> Iterator[RabbitVhost]:
    vhost = RabbitVhost()
    try:
        vhost.create()
    except Exception as exc:
        unavailable("RabbitMQ (management API)", exc)
    yield vhost
    vhost.delete()


def _run_aside(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a thread: sync fixtures may be set up
    from inside an async one, whose loop is already running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def empty_databases() -> Iterator[Databases]:
    databases = Databases()
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(empty_databases: Databases) -> Iterator[str]:
    """An empty database of the test's own."""
    try:
        name = empty_databases.take()
    except Exception as exc:
        unavailable("PostgreSQL", exc)
    yield pg_url(name)
    empty_databases.drop(name)


@pytest.fixture(params=["inprocess", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> str:
    """Which transport a test runs on; ``broker_url`` gives its URL (None: in-process)."""
    return str(request.param)


@pytest.fixture
def broker_url(request: pytest.FixtureRequest, broker: str) -> str | None:
    if broker == "inprocess":
        return None
    vhost: RabbitVhost = request.getfixturevalue("rabbit_vhost")
    return vhost.url


@pytest.fixture
async def transport(broker_url: str | None) -> AsyncIterator[Transport]:
    t: Transport = AmqpTransport(broker_url) if broker_url else InProcessTransport()
    await t.connect()
    yield t
    await t.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> str:
    if database_kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def migrated_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every component's SQLite database migrated to head, once per test process:
    an embedded stack starts from copies of them (see :func:`stack`)."""
    folder = tmp_path_factory.mktemp("migrated")
    _run_aside(migrate_all(Settings(data_dir=folder, jwt_secret=TEST_JWT_SECRET)))
    return folder


@pytest.fixture(scope="session")
def migrated_template() -> Iterator[str]:
    """A PostgreSQL database with every component's schema migrated to head, once
    per test process: a real stack's database is made as a copy of it."""
    try:
        name = _run_aside(create_database())
    except Exception as exc:
        unavailable("PostgreSQL", exc)
    _run_aside(migrate_all(Settings(database_url=pg_url(name), jwt_secret=TEST_JWT_SECRET)))
    yield name
    _run_aside(drop_database(name))


@pytest.fixture(scope="session")
def migrated_databases(migrated_template: str) -> Iterator[Databases]:
    databases = Databases(template=migrated_template)
    yield databases
    databases.close()


@pytest.fixture
def migrated_postgres_url(migrated_databases: Databases) -> Iterator[str]:
    """A database of the test's own, every component's schema at head."""
    name = migrated_databases.take()
    yield pg_url(name)
    migrated_databases.drop(name)


@pytest.fixture(
    params=["embedded", pytest.param("real", marks=[pytest.mark.rabbitmq, pytest.mark.postgres])]
)
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    """The system's two ways to run: in-process + SQLite, and RabbitMQ + PostgreSQL.

    The databases start migrated to head, copied from ones migrated once (the
    components' start-up still runs Alembic, which finds nothing to do); a test
    marked ``empty_databases`` gets them empty, to migrate them itself."""
    migrated = request.node.get_closest_marker("empty_databases") is None
    if request.param == "embedded":
        if migrated:
            shutil.copytree(request.getfixturevalue("migrated_files"), tmp_path, dirs_exist_ok=True)
        settings = Settings(
            data_dir=tmp_path,
            jwt_secret=TEST_JWT_SECRET,
            outbox_sweep_seconds=0.2,
            **TEST_PATIENCE,
        )
    else:
        vhost: RabbitVhost = request.getfixturevalue("rabbit_vhost")
        # Each component connects as its own broker user; the tests' own transport
        # (publishing by hand, listening) is the administrator's.
        own_users = {f"{c}_broker_url": url for c, url in vhost.component_urls().items()}
        settings = Settings(
            broker_url=vhost.url,
            database_url=request.getfixturevalue(
                "migrated_postgres_url" if migrated else "postgres_url"
            ),
            data_dir=tmp_path,
            jwt_secret=TEST_JWT_SECRET,
            outbox_sweep_seconds=0.2,
            **TEST_PATIENCE,
            **TEST_POOLS,
            **own_users,
        )
    transport = await open_transport(settings)
    transports = await Transports(settings, shared=transport).open(SERVICES)
    yield Stack(str(request.param), settings, transport, transports)
    await transports.close()
    await transport.close()


@pytest.fixture
async def system(stack: Stack) -> AsyncIterator[System]:
    """Every component (four services, the saga, both BFFs) on ``stack``."""
    async with running_system(stack) as running:
        yield running
