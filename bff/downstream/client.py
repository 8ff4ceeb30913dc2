"""An HTTP client for one downstream service, with the resilience a BFF needs.

Every call goes through, in order:

1. the **circuit breaker**, failing fast with :class:`CircuitOpen` while the
   service is known to be down;
2. the **bulkhead**, a semaphore bounding calls in flight to this service, so a
   slow service cannot take every connection and task of the caller; a call
   waits for a slot at most as long as its budget allows;
3. the request itself on one shared ``httpx.AsyncClient`` (one connection pool
   per downstream), bounded by ``min(config.timeout, what the request deadline
   has left)``, carrying the correlation id, W3C trace context and the remaining
   budget;
4. **retries** with full-jitter exponential backoff, for idempotent calls only
   (GET, PUT, DELETE, a POST with an ``Idempotency-Key`` and a POST its caller
   declares idempotent, such as a cancel), on transport errors that came before
   any answer (connection refused, a kept-alive connection closed under the
   request: ``ReadError``, ``RemoteProtocolError``), timeouts and 502/503/504,
   and never past the request deadline.

Reads (``GET``) get two more things:

5. **coalescing**: identical reads in flight at once (the same URL, query and
   headers, so the same caller: the ``Authorization`` header is part of what
   must match) are sent once and every caller gets the answer;
6. **hedging** (:mod:`bff.downstream.hedging`): an attempt still unanswered
   after this downstream's p95 gets a second copy, within a budget of extra
   calls; the first answer wins and the other copy is cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from typing import Any, Self

import httpx
from opentelemetry import trace
from opentelemetry.propagate import inject
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from bff.downstream.breaker import BreakerState, CircuitBreaker
from bff.downstream.deadline import (
    REQUEST_TIMEOUT_HEADER,
    Deadline,
    budget_header_value,
    current_deadline,
)
from bff.downstream.errors import (
    CircuitOpen,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from bff.downstream.hedging import HedgeBudget, LatencyWindow
from bff.downstream.inflight import InFlight
from shared.clock import Clock
from shared.context import CORRELATION_HEADER, correlation_id_var
from shared.logging import get_logger
from shared.settings import CLIENT_KEEP_ALIVE_SECONDS
from shared.telemetry import instrument_client
from shared.web.idempotency import IDEMPOTENCY_HEADER

log = get_logger(__name__)

Primitive = str | int | float | bool | None
QueryParams = Mapping[str, Primitive | Sequence[Primitive]]

# Gateways and overloaded servers answer these when a retry may well succeed;
# a 500 is more likely a bug that the same request hits again.
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
# Not worth an attempt: the call could not possibly finish in this little time.
_MIN_ATTEMPT_BUDGET = 0.005


@dataclass(frozen=True, slots=True)
class _Request:
    """One call as every attempt at it (a retry, a hedged copy) sends it again."""

    method: str
    path: str
    params: QueryParams | None
    json: Any
    headers: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class DownstreamConfig:
    """How to reach one downstream service and how patient to be with it."""

    base_url: str
    timeout: float = 2.0
    """Seconds one attempt may take (the request deadline can cut it shorter)."""
    max_connections: int = 100
    """Size of the connection pool."""
    max_concurrency: int = 64
    """Bulkhead: calls in flight at once; further calls queue within their budget."""
    attempts: int = 3
    """Attempts in all for an idempotent call (1 = no retry)."""
    backoff_initial: float = 0.05
    """Upper bound of the first retry's random wait; doubles per retry."""
    backoff_max: float = 1.0
    """Upper bound of any retry's wait."""
    failure_threshold: int = 5
    """Consecutive failed attempts that open the circuit."""
    reset_timeout: float = 10.0
    """Seconds an open circuit waits before letting a probe through."""
    hedge_budget: float = 0.05
    """Hedged reads: extra calls allowed, as a share of the reads (0 = never hedge)."""
    hedge_quantile: float = 0.95
    """Hedged reads: a read unanswered after this quantile of recent reads gets a copy."""
    hedge_min_samples: int = 50
    """Hedged reads: reads to measure before the first hedge."""
    coalesce_reads: bool = True
    """Identical reads in flight at once (same URL, query and headers) go out once."""

    def __post_init__(self) -> None:
        names = ("max_connections", "max_concurrency", "attempts", "failure_threshold")
        for name in (*names, "hedge_min_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        for name in ("backoff_initial", "backoff_max", "reset_timeout", "hedge_budget"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 < self.hedge_quantile < 1:
            raise ValueError("hedge_quantile must be between 0 and 1")


class DownstreamClient:
    """Calls one downstream service; build one per service at start-up and share it.

    ``headers`` given to a call (the caller's ``Authorization``, say) are sent as
    they are, next to the correlation id, trace context and budget header the
    client adds.  Answers are decoded JSON; failures are the errors of
    :mod:`bff.downstream.errors`.

    ``transport`` is the testing seam (``httpx.MockTransport``, respx);
    ``clock`` drives the circuit breaker; ``on_hedge`` hears of every hedge
    once it is decided, with the service's name and ``won`` (the copy answered
    first) or ``lost``.  Close with :meth:`aclose` or use ``async with``.
    """

    def __init__(
        self,
        name: str,
        config: DownstreamConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        on_hedge: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.latency = LatencyWindow(config.hedge_quantile, min_samples=config.hedge_min_samples)
        """Recent reads' latencies: the hedge comes after their quantile."""
        self.hedges = HedgeBudget(config.hedge_budget)
        self._on_hedge = on_hedge
        self._reads: InFlight[Hashable, httpx.Response] = InFlight()
        self.breaker = CircuitBreaker(
            failure_threshold=config.failure_threshold,
            reset_timeout=config.reset_timeout,
            clock=clock,
        )
        self._bulkhead = asyncio.Semaphore(config.max_concurrency)
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=config.timeout,
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
                keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
            ),
            transport=transport,
            cookies=_NoCookies(),
        )
        instrument_client(self._http)
        self._base = str(self._http.base_url).rstrip("/")

    async def get_json(
        self,
        path: str,
        *,
        params: QueryParams | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``path`` and return the decoded JSON body (retried, hedged, coalesced)."""

        def read() -> Awaitable[httpx.Response]:
            return self._call("GET", path, params=params, headers=headers, idempotent=True)

        if not self.config.coalesce_reads:
            return self._decode(await read())
        # Each caller decodes its own copy: none can change what another reads.
        return self._decode(await self._reads.run(_read_key(path, params, headers), read))

    async def post_json(
        self,
        path: str,
        json: Any,
        *,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool = False,
    ) -> Any:
        """POST ``json``; retried only when ``idempotency_key`` is given (sent on every
        attempt) or the caller declares the call ``idempotent`` (its effect is the same
        however often it arrives, as asking to cancel an order is)."""
        sent_headers = dict(headers or {})
        if idempotency_key is not None:
            sent_headers[IDEMPOTENCY_HEADER] = idempotency_key
        response = await self._call(
            "POST",
            path,
            json=json,
            headers=sent_headers,
            idempotent=idempotent or idempotency_key is not None,
        )
        return self._decode(response)

    async def put_json(
        self, path: str, json: Any, *, headers: Mapping[str, str] | None = None
    ) -> Any:
        """PUT ``json`` and return the decoded body (retried: PUT is idempotent)."""
        response = await self._call("PUT", path, json=json, headers=headers, idempotent=True)
        return self._decode(response)

    async def delete(self, path: str, *, headers: Mapping[str, str] | None = None) -> Any:
        """DELETE ``path``; returns the decoded body, or ``None`` when there is none."""
        response = await self._call("DELETE", path, headers=headers, idempotent=True)
        return self._decode(response)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"DownstreamClient({self.name!r}, {self.config.base_url!r}, {self.breaker!r})"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        request = _Request(method, path, params, json, headers)
        deadline = current_deadline()
        attempts = self.config.attempts if idempotent else 1
        try:
            return await self._once(request, deadline)
        except Exception as error:
            if attempts == 1 or not _is_retryable(error):
                raise
            first_failure: Exception | None = error
        # Most calls succeed at once and never get here.  From here on tenacity
        # decides, the first failure counted as attempt 1.
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts) | _OutOfBudget(deadline),
            wait=wait_random_exponential(
                multiplier=self.config.backoff_initial, max=self.config.backoff_max
            ),
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if first_failure is not None:
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._once(request, deadline)
        raise AssertionError("unreachable: tenacity returns or re-raises")

    async def _once(self, request: _Request, deadline: Deadline | None) -> httpx.Response:
        """One attempt; for a read, hedged when it is slow and the budget allows."""
        if request.method != "GET":
            return await self._attempt(request, deadline)
        self.hedges.earn()
        after = self.latency.value() if self.config.hedge_budget > 0 else None
        started = time.perf_counter()
        if after is None:
            response = await self._attempt(request, deadline)
        else:
            response = await self._hedged(after, request, deadline)
        self.latency.record(time.perf_counter() - started)
        return response

    async def _hedged(
        self, after: float, request: _Request, deadline: Deadline | None
    ) -> httpx.Response:
        """A read, and a second copy of it if it is still unanswered ``after`` seconds."""

        def copy() -> asyncio.Future[httpx.Response]:
            return asyncio.ensure_future(self._attempt(request, deadline))

        tasks = [copy()]
        try:
            done, _ = await asyncio.wait(tasks, timeout=after)
            # With every slot of the bulkhead taken, a copy would only queue behind
            # the calls already waiting: no use, and more load on a busy service.
            if done or self._bulkhead.locked() or not self.hedges.spend():
                return await tasks[0]
            _traced("downstream.hedge", service=self.name, after_ms=round(after * 1000, 1))
            tasks.append(copy())
            winner, response = await _first_answer(tasks)
            outcome = "won" if winner == 1 else "lost"
            _traced("downstream.hedge.decided", service=self.name, outcome=outcome)
            if self._on_hedge is not None:
                self._on_hedge(self.name, outcome)
            return response
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                    task.add_done_callback(_consume_outcome)

    async def _attempt(self, request: _Request, deadline: Deadline | None) -> httpx.Response:
        if not self.breaker.allow():
            raise CircuitOpen(self.name, retry_after=self.breaker.retry_after())
        sent = False
        try:
            async with self._bulkhead_slot(deadline):
                budget = self._budget(deadline)
                if budget < _MIN_ATTEMPT_BUDGET:
                    raise DownstreamTimeout(self.name, "request deadline exhausted before the call")
                sent = True
                response = await self._send(request, budget)
        except (DownstreamTimeout, DownstreamUnavailable):
            if sent:
                self._record_failure()
            else:
                self.breaker.release()
            raise
        except BaseException:
            # Cancelled from outside (a sibling failed, the caller gave up): no
            # verdict on the service's health.
            self.breaker.release()
            raise

        if response.status_code >= 500:
            self._record_failure()
            raise DownstreamUnavailable(
                self.name,
                f"answered HTTP {response.status_code}",
                upstream_status=response.status_code,
            )
        self.breaker.record_success()
        if response.status_code >= 400:
            raise DownstreamRejected(self.name, response.status_code, _problem(response))
        return response

    def _budget(self, deadline: Deadline | None) -> float:
        return deadline.cap(self.config.timeout) if deadline else self.config.timeout

    @asynccontextmanager
    async def _bulkhead_slot(self, deadline: Deadline | None) -> AsyncIterator[None]:
        """Hold one of the ``max_concurrency`` slots, waiting at most the call's budget."""
        wait = self._budget(deadline)
        if wait < _MIN_ATTEMPT_BUDGET:
            raise DownstreamTimeout(self.name, "request deadline exhausted before the call")
        if not self._bulkhead.locked():
            await self._bulkhead.acquire()  # a free slot: taken at once, no timer needed
        else:
            try:
                async with asyncio.timeout(wait):
                    await self._bulkhead.acquire()
            except TimeoutError:
                raise DownstreamTimeout(
                    self.name,
                    f"no free slot among {self.config.max_concurrency} within {wait:.3f}s",
                ) from None
        try:
            yield
        finally:
            self._bulkhead.release()

    async def _send(self, request: _Request, budget: float) -> httpx.Response:
        try:
            # httpx timeouts bound each phase (connect, each read) separately;
            # asyncio.timeout bounds the whole exchange.
            async with asyncio.timeout(budget):
                return await self._http.request(
                    request.method,
                    self._url(request.path),
                    params=request.params,
                    json=request.json,
                    headers=self._outgoing_headers(request.headers, budget),
                    timeout=budget,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise DownstreamTimeout(self.name, f"no answer within {budget:.3f}s") from exc
        except httpx.TransportError as exc:
            raise DownstreamUnavailable(self.name, f"{type(exc).__name__}: {exc}") from exc

    def _url(self, path: str) -> str:
        """``path`` joined to the base URL as httpx would, without parsing both again."""
        return path if "://" in path else f"{self._base}/{path.lstrip('/')}"

    def _outgoing_headers(self, extra: Mapping[str, str] | None, budget: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        correlation_id = correlation_id_var.get()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        headers.update(extra or {})
        # Ours, not the caller's: it must say how long *this* attempt will wait.
        headers[REQUEST_TIMEOUT_HEADER] = budget_header_value(budget)
        inject(headers)
        return headers

    def _decode(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise DownstreamUnavailable(
                self.name, "answered with a body that is not JSON"
            ) from None

    def _record_failure(self) -> None:
        was_open = self.breaker.state is BreakerState.OPEN
        self.breaker.record_failure()
        if not was_open and self.breaker.state is BreakerState.OPEN:
            log.warning(
                "circuit opened", service=self.name, reset_timeout=self.config.reset_timeout
            )

    def _log_retry(self, retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        log.info(
            "retrying downstream call",
            service=self.name,
            attempt=retry_state.attempt_number,
            wait=round(retry_state.upcoming_sleep, 3),
            error=str(error),
        )


def _read_key(path: str, params: QueryParams | None, headers: Mapping[str, str] | None) -> Hashable:
    """What must match for two reads to be one: the path, the query and every header
    the caller sends (its ``Authorization`` among them), case aside."""
    query = str(httpx.QueryParams(params)) if params else ""
    sent = tuple(sorted((k.lower(), v) for k, v in (headers or {}).items()))
    return (path, query, sent)


async def _first_answer(
    tasks: Sequence[asyncio.Future[httpx.Response]],
) -> tuple[int, httpx.Response]:
    """The index and answer of whichever copy answers first.  A rejection (4xx) is an
    answer too; a copy that fails to answer leaves it to the others, and when all
    fail, the first copy's failure is raised."""
    pending = set(tasks)
    failures: dict[int, BaseException] = {}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(done, key=tasks.index):
            error = task.exception()
            if error is None:
                return tasks.index(task), task.result()
            if isinstance(error, DownstreamRejected):
                raise error
            failures[tasks.index(task)] = error
    raise failures[min(failures)]


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _traced(event: str, **attributes: str | float) -> None:
    """An event on the current span (the BFF request's), when tracing is on."""
    trace.get_current_span().add_event(event, attributes)


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing.

    One client serves every caller of the BFF: a cookie a service set in one
    caller's answer must not travel with the next caller's request.  Not storing
    it also spares parsing every answer's headers for ``Set-Cookie``.
    """

    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class _OutOfBudget(stop_base):
    """Stop retrying when the backoff wait would leave no time for another attempt."""

    def __init__(self, deadline: Deadline | None) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._deadline is None:
            return False
        return retry_state.upcoming_sleep + _MIN_ATTEMPT_BUDGET >= self._deadline.remaining()


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, DownstreamTimeout):
        return True
    if isinstance(error, DownstreamUnavailable):
        if error.upstream_status is not None:
            return error.upstream_status in _RETRYABLE_STATUSES
        # Connection failures and broken answers may pass; a malformed URL or a
        # non-JSON body will not.
        return isinstance(error.__cause__, httpx.NetworkError | httpx.RemoteProtocolError)
    return False


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    """The RFC 9457 problem body of an error answer, if it sent a JSON object."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
