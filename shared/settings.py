"""Settings every component reads, from ``OMS_``-prefixed environment variables.

One :class:`Settings` object is built at each composition root (the CLI or a
test) and handed down; nothing below that reads ``os.environ``.

Two modes share one code path: **embedded**, when no broker URL is
set (in-process transport, SQLite files under ``data_dir``), and **real**, with
``OMS_BROKER_URL=amqp://…`` and ``OMS_DATABASE_URL=postgresql+asyncpg://…``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "oms-embedded-development-secret-not-for-real-use"
"""Accepted only in embedded mode; a real deployment must set ``OMS_JWT_SECRET``."""

SERVICES = ("orders", "inventory", "users", "payments", "saga")
BFFS = ("bff-web", "bff-mobile")
PORTS = {
    "orders": 3001,
    "inventory": 3002,
    "users": 3003,
    "payments": 3004,
    "bff-web": 3010,
    "bff-mobile": 3011,
    "saga": 3020,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    broker_url: str | None = None
    """``amqp://…`` for RabbitMQ; unset means the in-process transport."""
    database_url: str | None = None
    """Default database for every service; unset means SQLite files under ``data_dir``."""
    orders_database_url: str | None = None
    inventory_database_url: str | None = None
    users_database_url: str | None = None
    payments_database_url: str | None = None
    saga_database_url: str | None = None

    data_dir: Path = Path(".oms")
    jwt_secret: SecretStr | None = None
    jwt_ttl_seconds: int = 3600
    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = 1.0

    host: str = "127.0.0.1"
    port_offset: int = 0
    """Added to every component's port, to run a second stack beside one."""
    orders_url: str | None = None
    inventory_url: str | None = None
    users_url: str | None = None
    payments_url: str | None = None
    saga_url: str | None = None
    prefetch: int = 32
    delivery_limit: int = 5
    """Deliveries of one message before it is dead-lettered with its last error."""
    outbox_sweep_seconds: float = 1.0

    saga_step_timeout_seconds: float = 30.0
    saga_step_retries: int = 2
    saga_compensation_retries: int = 5
    """How often a refused or unanswered compensation is retried before the saga is ``failed``."""
    saga_compensation_backoff_seconds: float = 1.0
    """The wait before retrying a refused compensation; doubles per failure."""
    saga_processes: int = 1
    faults_enabled: bool = False
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    """How long ``oms up`` / ``oms run`` take at most to stop on SIGTERM or Ctrl-C:
    the BFFs first (their requests in flight finish or answer 503), then the saga,
    then the services."""

    # Database connection pools (PostgreSQL; see ``database_connections``)
    db_pool_size: int = Field(default=4, ge=1)
    """Connections each domain service keeps open."""
    db_max_overflow: int = Field(default=4, ge=0)
    """Connections a domain service opens beyond its pool under load, closed when returned."""
    saga_db_pool_size: int = Field(default=5, ge=1)
    saga_db_max_overflow: int = Field(default=5, ge=0)
    bff_db_pool_size: int = Field(default=2, ge=1)
    """A BFF's database holds only its idempotency keys: few connections do."""
    bff_db_max_overflow: int = Field(default=2, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a request or message waits for a free connection before it fails
    (a request then answers 503 with ``Retry-After``)."""

    # The BFFs
    bff_request_deadline_seconds: float = 1.5
    """Budget of a BFF read, an aggregated page included: its downstream calls share it."""
    bff_write_deadline_seconds: float = 5.0
    """Budget of a BFF write (register, login, checkout, cancel) and the reads it needs."""
    bff_auth_rate_limit: int = 30
    """Register and login attempts per client address per ``bff_rate_window_seconds``."""
    bff_checkout_rate_limit: int = 30
    """Checkouts per user per ``bff_rate_window_seconds``."""
    bff_rate_window_seconds: float = 60.0

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_embedded(self) -> Settings:
        if not self.embedded and self.jwt_secret is None:
            raise ValueError(
                "OMS_JWT_SECRET must be set when OMS_BROKER_URL points at a real broker"
            )
        return self

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @cached_property
    def jwt_key(self) -> str:
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET

    def port_for(self, component: str) -> int:
        return PORTS[component] + self.port_offset

    def url_for(self, component: str) -> str:
        """Where a component answers HTTP: its ``OMS_<NAME>_URL`` or this host and port."""
        own: str | None = getattr(self, f"{component.replace('-', '_')}_url", None)
        return own or f"http://{self.host}:{self.port_for(component)}"

    def pool_for(self, component: str) -> tuple[int, int]:
        """``(pool size, max overflow)`` of one component's database engine."""
        if component == "saga":
            return self.saga_db_pool_size, self.saga_db_max_overflow
        if component in BFFS:
            return self.bff_db_pool_size, self.bff_db_max_overflow
        return self.db_pool_size, self.db_max_overflow

    def database_connections(self, *, saga_processes: int = 1) -> int:
        """The most PostgreSQL connections the system opens: every component's
        pool full and overflowing, plus ``saga_processes - 1`` extra saga processes.

        It is the same whether ``oms up`` runs all seven components in one process
        or each runs in its own: every component has its own engine.  With the
        defaults and three saga processes::

            4 domain services * (4 + 4)    = 32
            3 saga processes  * (5 + 5)    = 30
            2 BFFs            * (2 + 2)    =  8   (their idempotency keys)
                                             --
                                             70

        PostgreSQL allows 100 by default (``max_connections``), 3 of them kept
        for superusers: 27 remain for ``oms migrate``, ``psql``, a backup, or
        another load on the same server.
        """
        total = 0
        for component in (*SERVICES, *BFFS):
            size, overflow = self.pool_for(component)
            processes = saga_processes if component == "saga" else 1
            total += processes * (size + overflow)
        return total

    def database_url_for(self, service: str) -> str:
        """The database URL of one service: its own override, the shared one, or SQLite."""
        own: str | None = getattr(self, f"{service}_database_url", None)
        if own:
            return own
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{service}.db'}"
