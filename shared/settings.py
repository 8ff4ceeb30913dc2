"""Settings every component reads, from ``OMS_``-prefixed environment variables.

One :class:`Settings` object is built at each composition root (the CLI or a
test) and handed down; nothing below that reads ``os.environ``.

Two modes share one code path: **embedded**, when no broker URL is
set (in-process transport, SQLite files under ``data_dir``), and **real**, with
``OMS_BROKER_URL=amqp://…`` and ``OMS_DATABASE_URL=postgresql+asyncpg://…``.
"""

from __future__ import annotations

import random
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "oms-embedded-development-secret-not-for-real-use"
"""Accepted only in embedded mode; a real deployment must set ``OMS_JWT_SECRET``."""
DRAWN_CONSUMER_PRIORITY = random.randint(1, 1000)
"""This process's consumer priority when ``OMS_CONSUMER_PRIORITY`` is unset: drawn
once, so every transport of the process has the same."""
MIN_JWT_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (RFC 7518 §3.2) are refused in real mode."""
PUBLIC_JWT_SECRETS = frozenset({DEV_JWT_SECRET, "change-me-to-a-long-random-secret"})
"""Secrets published in this repository (the embedded default, an old compose placeholder)."""

DEFAULT_BYTES = 64 * 1024
"""Largest request body of a route naming no class of its own (see ``shared.web.limits``)."""
SIGN_IN_BYTES = 8 * 1024
CHECKOUT_BYTES = 256 * 1024
MAX_HEAD_BYTES = 16 * 1024
"""Largest request line and headers: a bearer token and the usual headers take ~2 kB."""
HEAD_TIMEOUT_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
CLIENT_KEEP_ALIVE_SECONDS = KEEP_ALIVE_SECONDS / 2
"""How long OMS's own HTTP clients keep an idle connection: well under the servers'
keep-alive, so a client never sends on a connection the server is closing at that
moment (the request fails with a read error, and a POST is not sent again)."""

SERVICES = ("orders", "inventory", "users", "payments", "saga")
BFFS = ("bff-web", "bff-mobile")
CARD_PROVIDER = "card-provider"
"""The card provider payments charges through: not part of OMS's domain, but run
beside it (its own process and storage) as a provider's test mode would be."""
PORTS = {
    "orders": 3001,
    "inventory": 3002,
    "users": 3003,
    "payments": 3004,
    CARD_PROVIDER: 3005,
    "bff-web": 3010,
    "bff-mobile": 3011,
    "saga": 3020,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMS_", extra="ignore")

    broker_url: str | None = None
    """``amqp://…`` for RabbitMQ; unset means the in-process transport."""
    orders_broker_url: str | None = None
    """A component's own broker URL, with its own broker user (``oms topology`` makes
    them, named after the components): what it publishes carries that user, which
    consumers check against the message types it may publish."""
    inventory_broker_url: str | None = None
    users_broker_url: str | None = None
    payments_broker_url: str | None = None
    saga_broker_url: str | None = None
    database_url: str | None = None
    """Default database for every service; unset means SQLite files under ``data_dir``."""
    orders_database_url: str | None = None
    inventory_database_url: str | None = None
    users_database_url: str | None = None
    payments_database_url: str | None = None
    saga_database_url: str | None = None
    card_provider_database_url: str | None = None

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
    card_provider_url: str | None = None
    """Where payments reaches the card provider (default: its port on ``host``)."""
    card_provider_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long payments waits for one answer of the card provider."""
    card_provider_attempts: int = Field(default=3, ge=1)
    """Calls payments makes for one charge or refund (the same idempotency key each
    time) before the command fails and is delivered again later."""
    card_provider_backoff_seconds: float = Field(default=0.2, ge=0)
    """The wait before the second call; it doubles (with jitter) for each next one."""
    prefetch: int = 32
    batch_size: int = Field(default=16, ge=1)
    """Deliveries a consumer handles in one transaction at most (1: one each); the
    prefetch is raised to it if lower."""
    batch_linger_ms: float = Field(default=0.0, ge=0.0, le=2.0)
    """How long a batch waits for more deliveries than have arrived (0: not at all)."""
    batch_lanes: int = Field(default=1, ge=1)
    """Batches one consumer has in flight at once.  More than one lets a slow message
    hold up only its own batch, but a participant's batches may then lock the same
    rows in different orders (PostgreSQL breaks such a deadlock by failing one batch,
    which is then handled one message at a time)."""
    consumer_priority: int | None = None
    """This process's consumers' priority at the broker (RabbitMQ's ``x-priority``).
    A queue's deliveries go to its consumer of highest priority with room in its
    prefetch window, and only the overflow to the next: a second replica takes work
    once the first is full instead of halving the batches of both.  Unset: drawn at
    random when the process starts (1 to 1000), so replicas differ; give every
    replica the same one to have them take deliveries in turn."""
    delivery_limit: int = 5
    """Deliveries of one message before it is dead-lettered with its last error."""
    outbox_sweep_seconds: float = 1.0
    consumer_stall_seconds: float = 60.0
    """A consumer with deliveries in flight and none settled for this long is stalled:
    its component answers 503 at ``/health/ready``, naming the queue."""

    saga_step_timeout_seconds: float = 30.0
    saga_step_retries: int = 2
    saga_compensation_retries: int = 5
    """How often a refused or unanswered compensation is retried before the saga is ``failed``."""
    saga_compensation_backoff_seconds: float = 1.0
    """The wait before retrying a refused compensation; doubles per failure."""
    saga_parked_ttl_seconds: float = Field(default=3600.0, gt=0)
    """How long an event for an order whose saga does not exist stays parked; then it
    is expired into the dead letters, with why (ops can read and requeue it)."""
    saga_housekeeping_seconds: float = Field(default=5.0, gt=0)
    """How often each saga process folds the counts by state and (one at a time)
    compacts finished sagas' rows and removes those past their retention."""
    saga_retention_days: float | None = Field(default=None, gt=0)
    """Finished sagas (completed, cancelled) whose last change is older than this many
    days are removed, with their history and inputs, by the saga's housekeeping;
    unset keeps them for ever."""
    saga_retention_failed: bool = False
    """Retention removes ``failed`` sagas too (they wait for ops otherwise)."""
    saga_job_yield_in_flight: int = Field(default=24, ge=1)
    """A bulk job waits before its next saga while this many sagas or more are in
    flight (not at rest): it works in what capacity live checkouts leave, and what it
    retried never piles up behind them."""
    saga_archive_dir: Path | None = None
    """Where retention writes the sagas it removes first (gzip JSON lines per day)."""
    return_window_days: float = Field(default=30.0, gt=0)
    """How long after delivery a customer may ask to return an order's lines."""
    return_receipt_days: float = Field(default=14.0, gt=0)
    """How long the warehouse has to receive a return's goods before it expires."""
    faults_enabled: bool = False
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    """How long ``oms up`` / ``oms run`` take at most to stop on SIGTERM or Ctrl-C:
    the BFFs first (their requests in flight finish or answer 503), then the saga,
    then the services."""

    # Database connection pools (PostgreSQL; see ``database_connections``)
    # Each pool is opened as the load asks and then kept: connections opened
    # "beyond the pool" are closed when handed back, and under a steady load that
    # is a new connection (and every statement prepared again) per transaction.
    db_pool_size: int = Field(default=8, ge=1)
    """Connections each domain service keeps open at the most."""
    db_max_overflow: int = Field(default=0, ge=0)
    """Connections a domain service opens beyond its pool under load, closed when returned."""
    saga_db_pool_size: int = Field(default=10, ge=1)
    saga_db_max_overflow: int = Field(default=0, ge=0)
    bff_db_pool_size: int = Field(default=4, ge=1)
    """A BFF's database holds only its idempotency keys: few connections do."""
    bff_db_max_overflow: int = Field(default=0, ge=0)
    card_provider_db_pool_size: int = Field(default=4, ge=1)
    """The card provider's charges and refunds: one short transaction per call."""
    card_provider_db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a request or message waits for a free connection before it fails
    (a request then answers 503 with ``Retry-After``)."""
    db_outage_patience_seconds: float = Field(default=60.0, ge=0)
    """How long a message whose transaction the database cut (a lost primary, its
    standby being promoted) is run again, its delivery held, before it is handed back."""

    # The BFFs
    bff_request_deadline_seconds: float = 1.5
    """Budget of a BFF read, an aggregated page included: its downstream calls share it."""
    bff_write_deadline_seconds: float = 5.0
    """Budget of a BFF write (register, login, checkout, cancel) and the reads it needs."""
    bff_call_timeout_seconds: float = Field(default=2.0, gt=0)
    """How long one call of a BFF to a service may take (the request's deadline may
    cut it shorter); a call past it is retried if it may be, else answered 504."""
    bff_hedge_budget: float = Field(default=0.05, ge=0, le=1)
    """Hedged reads: a BFF read still unanswered after its service's p95 gets a second
    copy, within this share of extra calls per service (0 turns hedging off)."""
    bff_coalesce_reads: bool = True
    """Identical reads a BFF has in flight at once to one service (same URL, same
    caller) are sent once."""
    bff_auth_rate_limit: int = 30
    """Register and login attempts per client address per ``bff_rate_window_seconds``."""
    bff_checkout_rate_limit: int = 30
    """Checkouts per user per ``bff_rate_window_seconds``."""
    bff_rate_window_seconds: float = 60.0
    bff_max_in_flight: int = Field(default=64, ge=1)
    """Requests a BFF works on at once; past it a new one answers 503 with ``Retry-After``."""

    # What one HTTP request may hold and how long its head may take (every component)
    http_max_body_bytes: int = Field(default=DEFAULT_BYTES, ge=1024)
    """Largest request body of a route naming no class of its own; larger is a 413."""
    http_max_sign_in_body_bytes: int = Field(default=SIGN_IN_BYTES, ge=1024)
    """Largest body of a sign-in or registration, which anyone may send."""
    http_max_checkout_body_bytes: int = Field(default=CHECKOUT_BYTES, ge=1024)
    """Largest body of a checkout or a placed order."""
    http_max_header_bytes: int = Field(default=MAX_HEAD_BYTES, ge=1024)
    """Largest request line plus headers; larger is a 431 and the connection is closed."""
    http_header_timeout_seconds: float = Field(default=HEAD_TIMEOUT_SECONDS, gt=0)
    """How long a connection may take to send a request's line and headers, from
    when it opened or its previous answer was sent; then it is closed (408)."""
    http_keep_alive_seconds: int = Field(default=KEEP_ALIVE_SECONDS, ge=1)
    """How long an idle connection is kept open between requests."""

    # Sign-in protection
    forwarded_allow_ips: str | None = None
    """Comma-separated addresses or networks of proxies whose ``X-Forwarded-For`` names
    the client; unset, the client is the socket peer and forwarding headers are ignored."""
    login_failure_limit: int = 10
    """Failed logins per account (normalised email) per ``login_failure_window_seconds``,
    wherever they arrive; past it even the right password gets 429 until attempts refill."""
    login_failure_window_seconds: float = 900.0
    users_auth_rate_limit: int = 30
    """Register and login calls per client address per ``users_auth_rate_window_seconds``
    at the users service itself (a BFF's calls are counted per client by the BFF)."""
    users_auth_rate_window_seconds: float = 60.0

    @model_validator(mode="after")
    def _refuse_weak_secret_in_real_mode(self) -> Settings:
        if self.real_mode:
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret is not None else None
            problem = weak_jwt_secret(secret)
            if problem is not None:
                raise ValueError(
                    f"OMS_JWT_SECRET {problem}; a broker or database URL is set, so it must be "
                    f"{MIN_JWT_SECRET_BYTES}+ random bytes, e.g. "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        return self

    @property
    def embedded(self) -> bool:
        own = (getattr(self, f"{service}_broker_url") for service in SERVICES)
        return self.broker_url is None and not any(own)

    @property
    def process_consumer_priority(self) -> int:
        """``OMS_CONSUMER_PRIORITY``, or the one this process drew."""
        if self.consumer_priority is None:
            return DRAWN_CONSUMER_PRIORITY
        return self.consumer_priority

    def own_broker_url(self, component: str) -> str | None:
        """The component's own ``OMS_<NAME>_BROKER_URL`` (None for a BFF: the BFFs
        send and receive no messages)."""
        own: str | None = getattr(self, f"{component.replace('-', '_')}_broker_url", None)
        return own

    @property
    def quorum_replicas(self) -> int | None:
        """Nodes each quorum queue is replicated on: three when ``OMS_BROKER_URL``
        (or a component's own) lists a cluster of three nodes or more."""
        from shared.messaging.nodes import quorum_replicas

        urls = (self.broker_url, *(self.own_broker_url(service) for service in SERVICES))
        counts = [quorum_replicas(url) for url in urls]
        return max((count for count in counts if count is not None), default=None)

    @property
    def real_mode(self) -> bool:
        """A broker or any database URL is set: anything but the embedded default,
        so the development secret is refused (see :func:`weak_jwt_secret`)."""
        own = (self._own_database_url(service) for service in (*SERVICES, CARD_PROVIDER))
        return not self.embedded or any((self.database_url, *own))

    def _own_database_url(self, component: str) -> str | None:
        """``OMS_<COMPONENT>_DATABASE_URL``, when there is such a setting and it is set."""
        own: str | None = getattr(self, f"{component.replace('-', '_')}_database_url", None)
        return own

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
        if component == CARD_PROVIDER:
            return self.card_provider_db_pool_size, self.card_provider_db_max_overflow
        return self.db_pool_size, self.db_max_overflow

    def database_connections(self, *, saga_processes: int = 1) -> int:
        """The most PostgreSQL connections the system opens: every component's
        pool full and overflowing, plus ``saga_processes - 1`` extra saga processes.

        It is the same whether ``oms up`` runs all seven components in one process
        or each runs in its own: every component has its own engine.  With the
        defaults and three saga processes::

            4 domain services * (8 + 0)    = 32
            3 saga processes  * (10 + 0)   = 30
            2 BFFs            * (4 + 0)    =  8   (their idempotency keys)
            the card provider * (4 + 0)    =  4
                                             --
                                             74

        PostgreSQL allows 100 by default (``max_connections``), 3 of them kept
        for superusers: 23 remain for ``oms migrate``, ``psql``, a backup, or
        another load on the same server.
        """
        total = 0
        for component in (*SERVICES, *BFFS, CARD_PROVIDER):
            size, overflow = self.pool_for(component)
            processes = saga_processes if component == "saga" else 1
            total += processes * (size + overflow)
        return total

    def database_url_for(self, service: str) -> str:
        """The database URL of one service: its own override, the shared one, or SQLite."""
        own = self._own_database_url(service)
        if own:
            return own
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / f'{service}.db'}"


def weak_jwt_secret(secret: str | None) -> str | None:
    """Why ``secret`` must not sign tokens outside embedded mode, or ``None`` if it may."""
    if secret is None:
        return "is not set"
    if not secret:
        return "is empty"
    if secret in PUBLIC_JWT_SECRETS:
        return "is a published default"
    size = len(secret.encode())
    if size < MIN_JWT_SECRET_BYTES:
        return f"is only {size} byte{'' if size == 1 else 's'}"
    return None
