"""Async database engines: PostgreSQL (asyncpg) and SQLite (aiosqlite).

Every service owns its data.  With SQLite each service has its own file; with
PostgreSQL each service lives in its own schema (``search_path``), so one server
and even one database URL can serve all of them without any service seeing
another's tables.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.errors import DomainError
from shared.settings import Settings

PING_AFTER_IDLE_SECONDS = 1.0
"""A pooled PostgreSQL connection idle at least this long is pinged before it is used."""


Row = TypeVar("Row")


class Database:
    """One service's engine and session factory.

    ``pool_size`` connections stay open, ``max_overflow`` more are opened under
    load and closed when handed back, and a caller waits at most
    ``pool_timeout`` seconds for one (then ``sqlalchemy.exc.TimeoutError``;
    :func:`unavailable_reason` says so).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str,
        pool_size: int = 5,
        max_overflow: int | None = None,
        pool_timeout: float = 30.0,
        ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
    ) -> None:
        self.url = make_url(with_hosts_in_query(url))
        self.schema = schema
        self.dialect = self.url.get_backend_name()
        kwargs: dict[str, Any] = {}
        pool = {
            "pool_size": pool_size,
            "max_overflow": pool_size if max_overflow is None else max_overflow,
            "pool_timeout": pool_timeout,
            # The connection handed back last is handed out first: under a steady load
            # the same few stay busy (their statements prepared, never idle long enough
            # to be pinged) and the rest idle, rather than every one in turn idling
            # past the ping threshold and preparing every statement again.
            "pool_use_lifo": True,
        }
        if self.is_postgres:
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
            kwargs.update(pool)
        elif self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs.update(pool)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use postgresql or sqlite")
        # Looked up when called: with tracing on, the instrumentation wraps it.
        self.engine: AsyncEngine = sqlalchemy_asyncio.create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _serialise_sqlite_writers(self.engine)
        else:
            _ping_when_idle(self.engine, ping_after_idle)
            _drop_read_only_connections(self.engine)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.read_engine = self.engine
        """For statements that only read, or change one thing on their own.  On
        PostgreSQL each runs without the BEGIN and ROLLBACK round trips around it:
        under READ COMMITTED each query of a transaction sees what was committed
        when it started anyway.  (SQLite reads in a transaction: its connections
        are set up for transactions.)"""
        if self.is_postgres:
            self.read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reads = async_sessionmaker(
            self.read_engine, class_=AsyncSession, expire_on_commit=False
        )
        """Sessions that only read (see :attr:`read_engine`)."""

    @classmethod
    def for_component(cls, settings: Settings, name: str) -> Database:
        """The database of component ``name``, its pool sized as the settings say."""
        size, overflow = settings.pool_for(name)
        return cls(
            settings.database_url_for(name),
            schema=name,
            pool_size=size,
            max_overflow=overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
        )

    async def read_row(self, model: type[Row], key: Any) -> Row | None:
        """The row of ``model`` whose primary key is ``key`` (None: there is none), read
        in a session of its own (:attr:`reads`)."""
        async with self.reads() as session:
            return await session.get(model, key)

    @property
    def where(self) -> str:
        """The URL without its password, to name the database in messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Replace a pooled connection that died while idle (a server restart, a
    dropped socket) before anyone uses it.

    The check ``pool_pre_ping`` makes, but only for a connection that sat idle:
    on asyncpg it costs three round trips (BEGIN, the ping, ROLLBACK), and one
    handed back a moment ago was alive then; pinging it before every query
    would take more round trips than a simple read itself.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another one.
            raise exc.DisconnectionError(f"pooled connection is gone: {error}") from error


def with_hosts_in_query(url: str) -> str:
    """A URL naming several hosts as libpq does (``user@h1:5432,h2:5433/db``) in the
    form SQLAlchemy's asyncpg dialect reads (``user@/db?host=h1:5432&host=h2:5433``).

    With ``target_session_attrs=read-write`` in the query, asyncpg connects to the
    first host that accepts writes: the primary, or the standby once promoted."""
    scheme, sep, rest = url.partition("://")
    authority, _, tail = rest.partition("/")
    auth, at, hosts = authority.rpartition("@")
    if not sep or "," not in hosts:
        return url
    path, _, query = tail.partition("?")
    named = [f"host={host if ':' in host else host + ':5432'}" for host in hosts.split(",")]
    extra = "&".join(named + ([query] if query else []))
    return f"{scheme}://{auth}{at}/{path}?{extra}"


def _sqlstate(error: BaseException | None) -> str | None:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
        error = error.__cause__ or error.__context__
    return None


def _drop_read_only_connections(engine: AsyncEngine) -> None:
    """A server that answers "read-only transaction" is no longer the primary (it was
    demoted, or a standby took its address): treat it as a lost connection, so the
    pool discards every connection it holds and opens new ones on the primary."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        if _sqlstate(context.original_exception) == READ_ONLY_SQLSTATE:
            context.is_disconnect = True


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE``: concurrent writers queue up
    instead of failing with "database is locked" when a read upgrades to a write."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY_SQLSTATE = "25006"
"""read_only_sql_transaction: a write sent to a standby."""

_UNAVAILABLE_SQLSTATES = frozenset(
    {
        READ_ONLY_SQLSTATE,
        "53300",  # too_many_connections ("sorry, too many clients already")
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, shutting down, in recovery)
    }
)


def unavailable_reason(error: BaseException) -> str | None:
    """Why ``error`` means the database cannot be had right now, or ``None``.

    Such failures pass (a connection is handed back, the server accepts clients
    again), so a request that meets one answers 503 rather than 500: the pool
    had no free connection in time, the server refused or dropped the
    connection, or it could not be reached at all.  The reason names no URL.  A
    domain error is never the database's: one that says another system could not be
    reached (the card provider) is about that system, whatever socket error caused it.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DomainError):
            return None
        if isinstance(current, BaseExceptionGroup):
            reasons = (unavailable_reason(inner) for inner in current.exceptions)
            return next((r for r in reasons if r is not None), None)
        if isinstance(current, exc.TimeoutError):
            return "no free database connection in time"
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith("08")
        ):
            return f"the database refused the connection: {current}"
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return "the database connection was lost"
        if isinstance(current, ConnectionError | socket.gaierror):
            return f"the database cannot be reached: {type(current).__name__}"
        current = current.__cause__ or current.__context__
    return None
