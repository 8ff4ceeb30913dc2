"""One scenario against a running system, from set-up to expectations.

Create its products (unique skus) and users (unique emails, saved addresses and
payment methods), inject its faults, run its steps, wait until each of its
sagas has settled (a terminal state, no deadline left), then wait until every
expectation holds; the first one that still does not when the scenario's time
is up is its *difference*: what was expected, what was seen, and the saga to
open in ``/ops``.

:class:`ScenarioRun` is also what every step and expectation acts on (see
:mod:`oms.scenario.kinds`): the system's API and control, the names the file
gave and the ids they got, and the helpers to wait and to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from oms.scenario.client import Answer, Request, SystemApi
from oms.scenario.history import trail_of
from oms.scenario.results import Difference, ScenarioResult, StepFailed
from oms.scenario.spec import (
    RETURN_TERMINAL_STATES,
    TERMINAL_STATES,
    FaultSpec,
    ProductSpec,
    UserSpec,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from oms.scenario.control import Control
    from oms.scenario.kinds import StepKind
    from oms.scenario.loader import ScenarioFile

T = TypeVar("T")
EXPECTATION_WINDOW = 10.0
"""At most this long (and within the scenario's timeout) for expectations to hold."""
PASSWORD = "scenario-password-1234"


@dataclass
class User:
    user_id: str
    auth: dict[str, str]
    addresses: dict[str, tuple[str, dict[str, Any]]]
    """Name → (saved id, the address as JSON)."""
    methods: dict[str, str]
    """Name → saved payment method id."""

    def payment_method(self, name: str) -> str:
        """A saved method's id, or ``name`` itself (a test card token)."""
        return self.methods.get(name, name)


class ScenarioRun:
    """One scenario against the system, and what its steps and expectations act on."""

    def __init__(
        self, file: ScenarioFile, api: SystemApi, control: Control | None, settings: Settings
    ) -> None:
        self.file = file
        self.scenario = file.scenario
        self.api = api
        self.control = control
        self.settings = settings
        self.tag = uuid.uuid4().hex[:10]
        """Unique to this run: in skus, emails and idempotency keys."""
        self.deadline = time.monotonic() + self.scenario.timeout_seconds
        self.products: dict[str, dict[str, Any]] = {}
        self.users: dict[str, User] = {}
        self.orders: dict[str, str] = {}
        """The file's order names → the ids they got."""
        self.owners: dict[str, str] = {}
        self.requests: dict[str, tuple[Request, str]] = {}
        """Name → (the request, the user it was sent as)."""
        self.answers: dict[str, Answer] = {}
        self.messages: dict[str, list[str]] = {}
        """The file's message names → the ids of what was published under them."""
        self.returns: dict[str, str] = {}
        """The file's return names → the ids they got (each return saga's id too)."""
        self.return_orders: dict[str, str] = {}
        """The file's return names → the names of the orders they return."""
        self.faulted: set[str] = set()

    # --- helpers for the kinds --------------------------------------------------------

    def remaining(self, cap: float | None = None) -> float:
        left = max(0.0, self.deadline - time.monotonic())
        return min(left, cap) if cap is not None else left

    async def poll(
        self,
        probe: Callable[[], Awaitable[T]],
        done: Callable[[T], bool],
        *,
        within: float,
        interval: float = 0.05,
    ) -> tuple[bool, T]:
        """Probe until ``done`` or ``within`` seconds pass; the last value either way."""
        give_up = time.monotonic() + within
        while True:
            value = await probe()
            if done(value) or time.monotonic() >= give_up:
                return done(value), value
            await asyncio.sleep(interval)

    def saga_difference(
        self, what: str, expected: str, seen: str, order: str | None = None
    ) -> Difference:
        """A difference naming the order's saga and where to open it."""
        saga_id = self.orders.get(order) if order else None
        link = self.api.ops_link(saga_id) if saga_id else None
        return Difference(what, expected, seen, saga_id, link)

    def check_status(self, what: str, wanted: int | list[int] | None, answer: Answer) -> None:
        """Raise :class:`StepFailed` unless the answer has ``wanted`` (one of them, for a
        list: a race's loser may be refused; None: any 2xx)."""
        if wanted is None:
            ok = 200 <= answer.status < 300
        else:
            ok = answer.status in (wanted if isinstance(wanted, list) else [wanted])
        if not ok:
            detail = answer.body.get("detail") if isinstance(answer.body, dict) else answer.body
            raise StepFailed(
                Difference(
                    f"{what} HTTP status",
                    " or ".join(map(str, wanted if isinstance(wanted, list) else [wanted]))
                    if wanted is not None
                    else "2xx",
                    f"{answer.status} {detail!s}"[:300],
                )
            )

    def note_order(self, name: str, answer: Answer, user: str) -> None:
        """Remember the id of the order a 2xx answer placed under ``name``."""
        if 200 <= answer.status < 300 and isinstance(answer.body, dict):
            order_id = answer.body.get("orderId") or answer.body.get("id")
            if order_id:
                self.orders[name] = str(order_id)
                self.owners[name] = user

    async def inject(self, fault: FaultSpec) -> None:
        rule = {
            "message": fault.message,
            "mode": fault.mode,
            "times": fault.times,
            "delayMs": fault.delay_ms,
            "crashPoint": fault.crash_point,
        }
        if fault.copies != 1:
            rule["copies"] = fault.copies
        self.faulted.add(fault.target)
        response = await self.api.inject(fault.target, rule)
        if response.status_code != 201:
            raise StepFailed(
                Difference(
                    f"fault {fault.mode} on {fault.message} injected into {fault.target}",
                    "201",
                    f"{response.status_code} {response.text[:300]}",
                )
            )

    async def ready(self, components: Sequence[str], what: str) -> None:
        """Wait until every one of ``components`` answers ``/health/ready``."""

        async def all_ready() -> bool:
            return all(await asyncio.gather(*(self.api.ready(c) for c in components)))

        ready, _ = await self.poll(all_ready, bool, within=self.remaining(), interval=0.2)
        if not ready:
            raise StepFailed(Difference(what, "/health/ready answers 200", "not ready in time"))

    async def saga_reaches(
        self,
        saga_id: str,
        matches: Callable[[dict[str, Any]], bool],
        what: str,
        expected: str,
        *,
        within: float,
        interval: float,
    ) -> None:
        """Wait until the saga ``saga_id`` (an order's or a return's) matches; else
        fail naming its state and step."""
        reached, saga = await self.poll(
            lambda: self.api.saga(saga_id),
            lambda s: s is not None and matches(s),
            within=within,
            interval=interval,
        )
        if not reached:
            seen = "no saga" if saga is None else f"{saga['state']} (step {saga['step']})"
            link = self.api.ops_link(saga_id)
            raise StepFailed(Difference(what, expected, seen, saga_id, link))

    # --- set-up -----------------------------------------------------------------------

    async def setup(self) -> None:
        setup = self.scenario.setup
        await asyncio.gather(
            *(self._product(name, spec) for name, spec in setup.products.items()),
            *(self._user(name, spec) for name, spec in setup.users.items()),
        )
        for fault in setup.faults:
            await self.inject(fault)

    async def _created(
        self, what: str, component: str, path: str, body: Any, headers: dict[str, str]
    ) -> Any:
        """``POST`` as set-up: the created resource's JSON, or an error naming ``what``."""
        response = await self.api.request(component, "POST", path, json=body, headers=headers)
        if response.status_code != 201:
            raise RuntimeError(f"{what}: {response.status_code} {response.text}")
        return response.json()

    async def _product(self, name: str, spec: ProductSpec) -> None:
        body = {
            "sku": f"QA-{name[:20]}-{self.tag}-{uuid.uuid4().hex[:6]}",
            "name": spec.name,
            "price": spec.price,
            "currency": spec.currency,
            "stock": spec.stock,
        }
        created = await self._created(
            f"creating product {name!r}", "inventory", "/products", body, self.api.ops
        )
        self.products[name] = created

    async def _user(self, name: str, spec: UserSpec) -> None:
        email = f"qa-{name.lower()[:20]}-{self.tag}-{uuid.uuid4().hex[:6]}@example.com"
        registered = await self._created(
            f"registering {name!r}",
            "users",
            "/users/register",
            {"email": email, "password": PASSWORD, "firstName": name, "lastName": "QA"},
            {},
        )
        user_id = str(registered["userId"])
        user = User(user_id, self.api.customer(user_id), {}, {})
        for alias, address in spec.addresses.items():
            body = {
                "line1": address.line1,
                "city": address.city,
                "postalCode": address.postal_code,
                "country": address.country,
                **({"line2": address.line2} if address.line2 else {}),
            }
            saved = await self._created(
                f"saving {name!r}'s address",
                "users",
                f"/users/{user_id}/addresses",
                body,
                user.auth,
            )
            user.addresses[alias] = (str(saved["id"]), body)
        for alias, card in spec.payment_methods.items():
            saved = await self._created(
                f"saving {name!r}'s payment method",
                "payments",
                f"/users/{user_id}/payment-methods",
                {"token": card},
                user.auth,
            )
            user.methods[alias] = str(saved["id"])
        self.users[name] = user

    async def cleanup(self) -> None:
        """Faults the scenario left behind must not reach the next one."""
        for service in sorted(self.faulted):
            # A crashed component lost its rules with its process.
            with contextlib.suppress(httpx.TransportError):
                await self.api.clear_faults(service)

    # --- steps, settling, expectations ---------------------------------------------

    async def run_steps(self, steps: Sequence[StepKind]) -> None:
        for step in steps:
            await step.run(self)

    async def settle(self) -> None:
        """Wait until every saga of the scenario is terminal with no deadline left."""
        sagas = [(f"saga {n}", i, TERMINAL_STATES) for n, i in self.orders.items()]
        sagas += [(f"return saga {n}", i, RETURN_TERMINAL_STATES) for n, i in self.returns.items()]
        for name, saga_id, ends in sagas:
            await self.saga_reaches(
                saga_id,
                partial(_settled, ends),
                f"{name} settles within the scenario's {self.scenario.timeout_seconds:g}s",
                "a terminal state with no deadline",
                within=self.remaining(),
                interval=0.25,
            )

    async def check(self) -> Difference | None:
        """Wait until every expectation holds; the first that does not, when time is up."""

        async def first_difference() -> Difference | None:
            for expectation in self.scenario.expect:
                difference = await expectation.check(self)
                if difference is not None:
                    return difference
            return None

        _, difference = await self.poll(
            first_difference,
            lambda d: d is None,
            within=self.remaining(EXPECTATION_WINDOW),
            interval=0.25,
        )
        return difference

    # --- all of it ------------------------------------------------------------------

    async def run(self) -> ScenarioResult:
        started = time.monotonic()
        result = ScenarioResult(self.file.name, str(self.file.path), "passed")
        try:
            await self.setup()
            await self.run_steps(self.scenario.steps)
            await self.settle()
            result.difference = await self.check()
            if result.difference is not None:
                result.outcome = "failed"
        except StepFailed as failed:
            result.outcome = "failed"
            result.difference = failed.difference
        except Exception as exc:
            result.outcome = "error"
            result.reason = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                await self.cleanup()
                if result.outcome in ("failed", "error"):
                    result.trail = await self.trail()
            finally:
                result.orders = dict(self.orders)
                result.returns = dict(self.returns)
                result.seconds = time.monotonic() - started
        return result

    async def trail(self) -> dict[str, str]:
        """Each order's and return's saga in one line: its state, then every input,
        command and state."""
        trails: dict[str, str] = {}
        for name, saga_id in itertools.chain(self.orders.items(), self.returns.items()):
            try:
                saga = await self.api.saga(saga_id)
            except httpx.HTTPError as exc:
                trails[name] = f"unreadable: {exc}"
                continue
            trails[name] = "no saga" if saga is None else f"{saga_id} {trail_of(saga)}"
        return trails


def _settled(ends: Collection[str], saga: dict[str, Any]) -> bool:
    """The saga is in one of ``ends`` with no deadline left."""
    return saga["state"] in ends and not saga["deadlines"]
