"""Running scenarios against a running system.

Per scenario: create its products (unique skus) and users (unique emails, saved
addresses and payment methods), inject its faults, run its steps, wait until
each of its sagas has settled (a terminal state, no deadline left), then wait
until every expectation holds; the first one that still does not when the
scenario's time is up is its *difference*: what was expected, what was seen,
and the saga to open in ``/ops``.

Scenarios run side by side (``parallel``), except those that change the system
for everyone (faults, crashes, broker cuts): fault rules apply to whichever
message comes next, so those run one at a time, after the others, and their
faults are cleared when they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from oms.scenario.client import SystemApi
from oms.scenario.control import Control
from oms.scenario.loader import ScenarioFile
from oms.scenario.model import (
    CancelSpec,
    CheckoutSpec,
    ClearFaultsSpec,
    Concurrently,
    CrashSpec,
    CutBrokerSpec,
    DeadLetterExpectation,
    FaultSpec,
    HttpExpectation,
    MoneyExpectation,
    OperatorSpec,
    OrderCountExpectation,
    OrderExpectation,
    OutcomesExpectation,
    PlaceOrderSpec,
    PublishSpec,
    RepeatSpec,
    RestartSpec,
    SagaExpectation,
    Scenario,
    StockExpectation,
    WaitSpec,
    body_of,
    kind_of,
)
from saga.definition import TERMINAL as TERMINAL_STATES
from shared.messaging.envelope import Envelope
from shared.settings import Settings

T = TypeVar("T")
Outcome = Literal["passed", "failed", "skipped", "error"]
COMPENSATION_STATES = frozenset(
    {"compensating", "refunding_payment", "releasing_inventory", "cancelling_order"}
)
EXPECTATION_WINDOW = 10.0
"""At most this long (and within the scenario's timeout) for expectations to hold."""
PASSWORD = "scenario-password-1234"


@dataclass(frozen=True)
class Difference:
    """The first thing that was not as expected."""

    what: str
    expected: str
    seen: str
    saga_id: str | None = None
    link: str | None = None

    def describe(self) -> str:
        text = f"{self.what}: expected {self.expected}, seen {self.seen}"
        return f"{text} (saga {self.saga_id}: {self.link})" if self.saga_id else text


@dataclass
class ScenarioResult:
    name: str
    path: str
    outcome: Outcome
    seconds: float = 0.0
    difference: Difference | None = None
    reason: str | None = None
    """Why it was skipped, or the error that stopped it."""
    orders: dict[str, str] = field(default_factory=dict)
    """The file's order names and the ids they got."""
    trail: dict[str, str] = field(default_factory=dict)
    """For a failure: each order's saga as it ended (what came in, what went out)."""


class StepFailed(Exception):
    def __init__(self, difference: Difference) -> None:
        super().__init__(difference.describe())
        self.difference = difference


# --- what a scenario needs from the system -------------------------------------------------


def _all_steps(steps: Iterable[BaseModel]) -> Iterable[BaseModel]:
    for step in steps:
        if isinstance(step, Concurrently):
            yield from _all_steps(step.concurrently)
        else:
            yield step


def needs(scenario: Scenario) -> set[str]:
    """The control capabilities the scenario's steps use."""
    wanted: set[str] = set()
    for step in _all_steps(scenario.steps):
        spec = body_of(step)
        if isinstance(spec, CrashSpec):
            # A crash fault needs no control, but only a control brings the component back.
            wanted.add("crash" if spec.handling is None else "restart")
        elif isinstance(spec, RestartSpec):
            wanted.add("restart")
        elif isinstance(spec, CutBrokerSpec):
            wanted.add("cut_broker")
        elif isinstance(spec, PublishSpec):
            wanted.add("publish")
    return wanted


def exclusive(scenario: Scenario) -> bool:
    """Whether the scenario changes the system for everyone while it runs."""
    if scenario.setup.faults:
        return True
    changing = (FaultSpec, ClearFaultsSpec, CrashSpec, RestartSpec, CutBrokerSpec)
    return any(isinstance(body_of(s), changing) for s in _all_steps(scenario.steps))


_TIMING = {
    "step_timeout_seconds": "OMS_SAGA_STEP_TIMEOUT_SECONDS",
    "step_retries": "OMS_SAGA_STEP_RETRIES",
    "compensation_retries": "OMS_SAGA_COMPENSATION_RETRIES",
    "compensation_backoff_seconds": "OMS_SAGA_COMPENSATION_BACKOFF_SECONDS",
}


def skip_reason(scenario: Scenario, settings: Settings, control: Control | None) -> str | None:
    """Why the scenario cannot run here, or None."""
    if scenario.pending:
        return f"pending: {scenario.pending}"
    for name, variable in _TIMING.items():
        wanted = getattr(scenario.setup.saga, name)
        actual = getattr(settings, f"saga_{name}")
        if wanted is not None and float(wanted) != float(actual):
            return f"written for {variable}={wanted}; the system runs with {actual}"
    missing = needs(scenario) - set(control.capabilities if control else ())
    if missing:
        return "; ".join(f"needs {m}: {_HOW[m]}" for m in sorted(missing))
    return None


_HOW = {
    "publish": "the runner reaches the broker only in real mode (OMS_BROKER_URL)",
    "cut_broker": "real mode and --rabbitmq-management",
    "crash": "--crash-command, or a harness that controls the processes",
    "restart": "--restart-command, or a harness that controls the processes",
}


# --- one scenario -----------------------------------------------------------------------


def state_matches(expected: str, seen: str | None) -> bool:
    """``compensating`` matches every undo state, ``terminal`` every end state."""
    if seen is None:
        return False
    if expected == "terminal":
        return seen in TERMINAL_STATES
    if expected == "compensating":
        return seen in COMPENSATION_STATES
    return expected == seen


def is_subsequence(
    expected: Sequence[str], seen: Sequence[str], same: Callable[[str, str], bool]
) -> bool:
    remaining = iter(seen)
    return all(any(same(e, s) for s in remaining) for e in expected)


def _arrows(items: Sequence[str]) -> str:
    return " → ".join(items) if items else "(none)"


def commands_of(saga: Mapping[str, Any]) -> list[str]:
    """Every command the saga sent, in order."""
    return [h["detail"]["type"] for h in saga["history"] if h["kind"] == "command_out"]


def states_of(saga: Mapping[str, Any]) -> list[str]:
    """Every state the saga entered, in order."""
    return [h["detail"]["to"] for h in saga["history"] if h["kind"] == "transition"]


@dataclass
class _User:
    user_id: str
    auth: dict[str, str]
    addresses: dict[str, tuple[str, dict[str, Any]]]
    """Name → (saved id, the address as JSON)."""
    methods: dict[str, str]
    """Name → saved payment method id."""


@dataclass(frozen=True)
class _Request:
    component: str
    method: str
    path: str
    body: Any
    params: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: Any


class ScenarioRun:
    """One scenario against the system, from set-up to expectations."""

    def __init__(
        self, file: ScenarioFile, api: SystemApi, control: Control | None, settings: Settings
    ) -> None:
        self.file = file
        self.scenario = file.scenario
        self.api = api
        self.control = control
        self.settings = settings
        self.tag = uuid.uuid4().hex[:10]
        self.deadline = time.monotonic() + self.scenario.timeout_seconds
        self.products: dict[str, dict[str, Any]] = {}
        self.users: dict[str, _User] = {}
        self.orders: dict[str, str] = {}
        self.owners: dict[str, str] = {}
        self.requests: dict[str, tuple[_Request, str]] = {}
        """Name → (the request, the user it was sent as)."""
        self.answers: dict[str, _Answer] = {}
        self.messages: dict[str, list[str]] = {}
        self.faulted: set[str] = set()

    # --- helpers ---------------------------------------------------------------------

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
        saga_id = self.orders.get(order) if order else None
        link = self.api.ops_link(saga_id) if saga_id else None
        return Difference(what, expected, seen, saga_id, link)

    def _check_status(self, what: str, wanted: int | None, answer: _Answer) -> None:
        ok = answer.status == wanted if wanted is not None else 200 <= answer.status < 300
        if not ok:
            detail = answer.body.get("detail") if isinstance(answer.body, dict) else answer.body
            raise StepFailed(
                Difference(
                    f"{what} HTTP status",
                    str(wanted) if wanted is not None else "2xx",
                    f"{answer.status} {detail!s}"[:300],
                )
            )

    async def send(self, request: _Request) -> _Answer:
        response = await self.api.request(
            request.component,
            request.method,
            request.path,
            json=request.body,
            params=request.params,
            headers=request.headers,
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return _Answer(response.status_code, response.headers, body)

    # --- set-up ----------------------------------------------------------------------

    async def setup(self) -> None:
        setup = self.scenario.setup
        await asyncio.gather(
            *(self._product(name, spec) for name, spec in setup.products.items()),
            *(self._user(name, spec) for name, spec in setup.users.items()),
        )
        for fault in setup.faults:
            await self._inject(fault)

    async def _product(self, name: str, spec: Any) -> None:
        response = await self.api.request(
            "inventory",
            "POST",
            "/products",
            json={
                "sku": f"QA-{name[:20]}-{self.tag}-{uuid.uuid4().hex[:6]}",
                "name": spec.name,
                "price": spec.price,
                "currency": spec.currency,
                "stock": spec.stock,
            },
            headers=self.api.ops,
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating product {name!r}: {response.status_code} {response.text}")
        self.products[name] = response.json()

    async def _user(self, name: str, spec: Any) -> None:
        email = f"qa-{name.lower()[:20]}-{self.tag}-{uuid.uuid4().hex[:6]}@example.com"
        registered = await self.api.request(
            "users",
            "POST",
            "/users/register",
            json={"email": email, "password": PASSWORD, "firstName": name, "lastName": "QA"},
        )
        if registered.status_code != 201:
            raise RuntimeError(f"registering {name!r}: {registered.status_code} {registered.text}")
        user_id = str(registered.json()["userId"])
        user = _User(user_id, self.api.customer(user_id), {}, {})
        for alias, address in spec.addresses.items():
            body = {
                "line1": address.line1,
                "city": address.city,
                "postalCode": address.postal_code,
                "country": address.country,
                **({"line2": address.line2} if address.line2 else {}),
            }
            saved = await self.api.request(
                "users", "POST", f"/users/{user_id}/addresses", json=body, headers=user.auth
            )
            if saved.status_code != 201:
                raise RuntimeError(f"saving {name!r}'s address: {saved.status_code} {saved.text}")
            user.addresses[alias] = (str(saved.json()["id"]), body)
        for alias, card in spec.payment_methods.items():
            saved = await self.api.request(
                "payments",
                "POST",
                f"/users/{user_id}/payment-methods",
                json={"token": card},
                headers=user.auth,
            )
            if saved.status_code != 201:
                raise RuntimeError(
                    f"saving {name!r}'s payment method: {saved.status_code} {saved.text}"
                )
            user.methods[alias] = str(saved.json()["id"])
        self.users[name] = user

    async def _inject(self, fault: FaultSpec) -> None:
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

    async def cleanup(self) -> None:
        """Faults the scenario left behind must not reach the next one."""
        for service in sorted(self.faulted):
            # A crashed component lost its rules with its process.
            with contextlib.suppress(httpx.TransportError):
                await self.api.clear_faults(service)

    # --- steps -----------------------------------------------------------------------

    async def run_steps(self, steps: Sequence[BaseModel]) -> None:
        for step in steps:
            await self.step(step)

    async def step(self, step: BaseModel) -> None:
        if isinstance(step, Concurrently):
            outcomes = await asyncio.gather(
                *(self.step(s) for s in step.concurrently), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            return
        spec = body_of(step)
        kind = kind_of(step)
        handler = getattr(self, f"_{kind}")
        await handler(spec)

    def _payment_method(self, user: _User, name: str) -> str:
        return user.methods.get(name, name)

    async def _checkout(self, spec: CheckoutSpec) -> None:
        user = self.users[spec.user]
        items = [
            {"productId": self.products[p]["id"], "quantity": q} for p, q in spec.items.items()
        ]
        headers = dict(user.auth)
        if spec.idempotency_key:
            headers["Idempotency-Key"] = f"{spec.idempotency_key}-{self.tag}"
        address_name = spec.address or next(iter(user.addresses))
        address_id, address = user.addresses[address_name]
        method = self._payment_method(user, spec.payment_method)
        if spec.via == "web":
            request = _Request(
                "bff-web",
                "POST",
                "/checkout",
                {"items": items, "shippingAddress": address, "paymentMethodId": method},
                {"wait": spec.wait_seconds} if spec.wait_seconds else None,
                headers,
            )
        else:
            request = _Request(
                "bff-mobile",
                "POST",
                "/checkout",
                {"items": items, "addressId": address_id, "paymentMethodId": method},
                None,
                headers,
            )
        await self._send_placing(
            spec.order, request, spec.user, spec.status, f"checkout {spec.order}"
        )

    async def _place_order(self, spec: PlaceOrderSpec) -> None:
        user = self.users[spec.user]
        first = self.products[next(iter(spec.items))]
        request = _Request(
            "orders",
            "POST",
            "/orders",
            {
                "userId": user.user_id,
                "items": [
                    {
                        "productId": self.products[p]["id"],
                        "quantity": line.quantity,
                        "unitPrice": line.unit_price,
                    }
                    for p, line in spec.items.items()
                ],
                "currency": first["currency"],
                "paymentMethodId": self._payment_method(user, spec.payment_method),
            },
            None,
            dict(user.auth),
        )
        await self._send_placing(spec.order, request, spec.user, spec.status, f"order {spec.order}")

    async def _send_placing(
        self, name: str, request: _Request, user: str, status: int | None, what: str
    ) -> None:
        self.requests[name] = (request, user)
        answer = await self.send(request)
        self.answers[name] = answer
        self._note_order(name, answer, user)
        self._check_status(what, status, answer)

    def _note_order(self, name: str, answer: _Answer, user: str) -> None:
        if 200 <= answer.status < 300 and isinstance(answer.body, dict):
            order_id = answer.body.get("orderId") or answer.body.get("id")
            if order_id:
                self.orders[name] = str(order_id)
                self.owners[name] = user

    async def _cancel(self, spec: CancelSpec) -> None:
        owner = self.owners[spec.order]
        request = _Request(
            "bff-web",
            "POST",
            f"/orders/{quote(self.orders[spec.order], safe='')}/cancel",
            None,
            None,
            dict(self.users[owner].auth),
        )
        name = spec.request or f"cancel-{spec.order}"
        self.requests[name] = (request, owner)
        answer = await self.send(request)
        self.answers[name] = answer
        self._check_status(f"cancel {spec.order}", spec.status, answer)

    async def _repeat(self, spec: RepeatSpec) -> None:
        request, user = self.requests[spec.request]
        answer = await self.send(request)
        name = spec.order or f"{spec.request}-repeated"
        self.answers[name] = answer
        self._check_status(f"repeat {spec.request}", spec.status, answer)
        if spec.order:
            self._note_order(spec.order, answer, user)

    async def _wait(self, spec: WaitSpec) -> None:
        order_id = self.orders[spec.order]
        within = self.remaining(spec.timeout_seconds)
        reached, saga = await self.poll(
            lambda: self.api.saga(order_id),
            lambda s: s is not None and state_matches(spec.state, s["state"]),
            within=within,
            interval=0.1,
        )
        if not reached:
            seen = "no saga" if saga is None else f"{saga['state']} (step {saga['step']})"
            raise StepFailed(
                self.saga_difference(
                    f"saga {spec.order} reaches {spec.state} within {within:.1f}s",
                    spec.state,
                    seen,
                    spec.order,
                )
            )

    async def _crash(self, spec: CrashSpec) -> None:
        if spec.handling is not None:
            await self._inject(
                FaultSpec(
                    message=spec.handling,
                    mode="crash",
                    crash_point=spec.point,
                    service=spec.component,
                )
            )
            return
        assert self.control is not None
        await self.control.crash(spec.component)

    async def _restart(self, spec: RestartSpec) -> None:
        assert self.control is not None
        await self.control.restart(spec.component)
        await self._ready([spec.component], f"{spec.component} ready after its restart")

    async def _ready(self, components: Sequence[str], what: str) -> None:
        async def all_ready() -> bool:
            return all(await asyncio.gather(*(self.api.ready(c) for c in components)))

        ready, _ = await self.poll(all_ready, bool, within=self.remaining(), interval=0.2)
        if not ready:
            raise StepFailed(Difference(what, "/health/ready answers 200", "not ready in time"))

    async def _cut_broker(self, _spec: CutBrokerSpec) -> None:
        assert self.control is not None
        await self.control.cut_broker()
        # Each component reconnects on its own; the scenario goes on once all are ready.
        await self._ready(("orders", "inventory", "payments", "saga"), "components reconnected")

    async def _publish(self, spec: PublishSpec) -> None:
        assert self.control is not None
        body = spec.body if isinstance(spec.body, str) else json.dumps(spec.body)
        ids = self.messages.setdefault(spec.name or f"published-{len(self.messages)}", [])
        for _ in range(spec.times):
            envelope = Envelope(
                message_id=str(uuid.uuid4()),
                type=spec.type or spec.routing_key,
                correlation_id=self.orders[spec.order] if spec.order else str(uuid.uuid4()),
                app_id="oms-scenario",
                body=body.encode(),
                exchange=spec.exchange,
                routing_key=spec.routing_key,
            )
            await self.control.publish(envelope)
            ids.append(envelope.message_id)

    async def _fault(self, spec: FaultSpec) -> None:
        await self._inject(spec)

    async def _clear_faults(self, spec: ClearFaultsSpec) -> None:
        response = await self.api.clear_faults(spec.service)
        if response.status_code != 204:
            raise StepFailed(
                Difference(f"faults cleared on {spec.service}", "204", f"{response.status_code}")
            )

    async def _operate(self, action: str, spec: OperatorSpec) -> None:
        order_id = self.orders[spec.order]
        response = await self.api.request(
            "saga",
            "POST",
            f"/sagas/{quote(order_id, safe='')}/{action}",
            json={"reason": spec.reason},
            headers=self.api.ops,
        )
        answer = _Answer(response.status_code, response.headers, response.json())
        try:
            self._check_status(f"{action} saga {spec.order}", spec.status, answer)
        except StepFailed as failed:
            raise StepFailed(
                self.saga_difference(
                    failed.difference.what,
                    failed.difference.expected,
                    failed.difference.seen,
                    spec.order,
                )
            ) from None

    async def _retry(self, spec: OperatorSpec) -> None:
        await self._operate("retry", spec)

    async def _abort(self, spec: OperatorSpec) -> None:
        await self._operate("abort", spec)

    # --- the end ---------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until every saga of the scenario is terminal with no deadline left."""
        for name, order_id in self.orders.items():
            settled, saga = await self.poll(
                lambda order_id=order_id: self.api.saga(order_id),  # type: ignore[misc]
                lambda s: s is not None and s["state"] in TERMINAL_STATES and not s["deadlines"],
                within=self.remaining(),
                interval=0.25,
            )
            if not settled:
                seen = "no saga" if saga is None else f"{saga['state']} (step {saga['step']})"
                raise StepFailed(
                    self.saga_difference(
                        f"saga {name} settles within the scenario's {self.scenario.timeout_seconds:g}s",
                        "a terminal state with no deadline",
                        seen,
                        name,
                    )
                )

    async def check(self) -> Difference | None:
        """Wait until every expectation holds; the first that does not, when time is up."""
        window = self.remaining(EXPECTATION_WINDOW)

        async def first_difference() -> Difference | None:
            for expectation in self.scenario.expect:
                difference = await self._expectation(kind_of(expectation), body_of(expectation))
                if difference is not None:
                    return difference
            return None

        _, difference = await self.poll(
            first_difference, lambda d: d is None, within=window, interval=0.25
        )
        return difference

    async def _expectation(self, kind: str, spec: Any) -> Difference | None:
        check: Callable[[Any], Awaitable[Difference | None]] = getattr(self, f"_expect_{kind}")
        return await check(spec)

    async def _expect_order(self, spec: OrderExpectation) -> Difference | None:
        order = await self.api.order(self.orders[spec.order])
        if order is None:
            return self.saga_difference(f"order {spec.order}", "an order", "none", spec.order)
        if spec.status is not None and order["status"] != spec.status:
            why = f" ({order['cancelReason']})" if order.get("cancelReason") else ""
            return self.saga_difference(
                f"order {spec.order} status", spec.status, order["status"] + why, spec.order
            )
        if spec.reason is not None:
            reason = order.get("cancelReason") or ""
            if spec.reason.casefold() not in reason.casefold():
                return self.saga_difference(
                    f"order {spec.order} reason",
                    f"containing {spec.reason!r}",
                    repr(reason),
                    spec.order,
                )
        if spec.same_as is not None and self.orders[spec.same_as] != order["id"]:
            return self.saga_difference(
                f"order {spec.order} is {spec.same_as}",
                self.orders[spec.same_as],
                order["id"],
                spec.order,
            )
        return None

    async def _expect_saga(self, spec: SagaExpectation) -> Difference | None:
        saga = await self.api.saga(self.orders[spec.order])
        name = spec.order
        if saga is None:
            return self.saga_difference(f"saga {name}", "a saga", "none", name)
        if spec.state is not None and not state_matches(spec.state, saga["state"]):
            return self.saga_difference(f"saga {name} state", spec.state, saga["state"], name)
        sent = commands_of(saga)
        if spec.steps is not None and not is_subsequence(spec.steps, sent, str.__eq__):
            return self.saga_difference(
                f"saga {name} steps (in this order, others may come between)",
                _arrows(spec.steps),
                _arrows(sent),
                name,
            )
        entered = states_of(saga)
        if spec.states is not None and not is_subsequence(spec.states, entered, state_matches):
            return self.saga_difference(
                f"saga {name} states (in this order, others may come between)",
                _arrows(spec.states),
                _arrows(entered),
                name,
            )
        for command in spec.never:
            if command in sent:
                return self.saga_difference(
                    f"saga {name} never sends {command}", "not sent", _arrows(sent), name
                )
        for command, count in spec.counts.items():
            if sent.count(command) != count:
                return self.saga_difference(
                    f"saga {name} sends {command}",
                    f"{count} times",
                    f"{sent.count(command)} times ({_arrows(sent)})",
                    name,
                )
        if spec.reason is not None:
            reason = saga.get("failureReason") or ""
            if spec.reason.casefold() not in reason.casefold():
                return self.saga_difference(
                    f"saga {name} reason", f"containing {spec.reason!r}", repr(reason), name
                )
        return None

    async def _expect_stock(self, spec: StockExpectation) -> Difference | None:
        product = await self.api.product(self.products[spec.product]["id"])
        seen = None if product is None else int(product["available"])
        if seen != spec.available:
            return Difference(f"stock of {spec.product} available", str(spec.available), str(seen))
        return None

    async def _expect_money(self, spec: MoneyExpectation) -> Difference | None:
        summary = await self.api.money(self.orders[spec.order])
        for key in ("captured", "refunded", "net"):
            wanted = getattr(spec, key)
            if wanted is not None and int(summary[key]) != wanted:
                seen = ", ".join(f"{k} {summary[k]}" for k in ("captured", "refunded", "net"))
                return self.saga_difference(
                    f"money of order {spec.order}: {key}", str(wanted), seen, spec.order
                )
        return None

    async def _expect_http(self, spec: HttpExpectation) -> Difference | None:
        answer = self.answers.get(spec.request)
        if answer is None:
            return Difference(f"request {spec.request}", "an answer", "none")
        if answer.status != spec.status:
            return Difference(
                f"request {spec.request} HTTP status", str(spec.status), str(answer.status)
            )
        for header, value in spec.headers.items():
            if answer.headers.get(header) != value:
                return Difference(
                    f"request {spec.request} header {header}",
                    repr(value),
                    repr(answer.headers.get(header)),
                )
        return None

    async def _expect_outcomes(self, spec: OutcomesExpectation) -> Difference | None:
        found = await asyncio.gather(*(self.api.order(self.orders[o]) for o in spec.orders))
        statuses = [order["status"] if order else "missing" for order in found]
        for status in ("confirmed", "cancelled", "pending"):
            wanted = getattr(spec, status)
            if wanted is not None and statuses.count(status) != wanted:
                seen = ", ".join(f"{o} {s}" for o, s in zip(spec.orders, statuses, strict=True))
                return Difference(f"orders {', '.join(spec.orders)} {status}", str(wanted), seen)
        return None

    async def _expect_orders(self, spec: OrderCountExpectation) -> Difference | None:
        user = self.users[spec.user]
        response = await self.api.request(
            "orders",
            "GET",
            "/orders",
            params={"userId": user.user_id, "limit": 100},
            headers=user.auth,
        )
        response.raise_for_status()
        count = len(response.json()["items"])
        if count != spec.count:
            return Difference(f"orders of {spec.user}", str(spec.count), str(count))
        return None

    async def _expect_dead_letter(self, spec: DeadLetterExpectation) -> Difference | None:
        ids = set(self.messages.get(spec.message, ()))
        letters = [letter for letter in await self.api.dead_letters() if letter["messageId"] in ids]
        if len(letters) < len(ids):
            return Difference(
                f"message {spec.message} dead-lettered",
                f"{len(ids)} dead letters",
                f"{len(letters)}",
            )
        for letter in letters:
            if spec.queue is not None and letter["queue"] != spec.queue:
                return Difference(
                    f"message {spec.message} dead-lettered from", spec.queue, letter["queue"]
                )
            if (
                spec.reason is not None
                and spec.reason.casefold() not in letter["reason"].casefold()
            ):
                return Difference(
                    f"message {spec.message} dead-letter reason",
                    f"containing {spec.reason!r}",
                    repr(letter["reason"]),
                )
        return None

    async def _expect_audit(self, _spec: str) -> Difference | None:
        from oms.audit import audit_some

        report = await audit_some(
            self.settings,
            sorted(set(self.orders.values())),
            [p["id"] for p in self.products.values()],
            transports=self.api.transports,
        )
        if report.violations:
            first = report.violations[0]
            return Difference(
                "oms audit",
                "clean",
                f"{len(report.violations)} violations; first: {first.problem}",
                first.order_id,
                self.api.ops_link(first.order_id),
            )
        if report.in_flight:
            return Difference(
                "oms audit",
                "every saga ended",
                f"{len(report.in_flight)} in flight",
                report.in_flight[0],
                self.api.ops_link(report.in_flight[0]),
            )
        return None

    # --- all of it -------------------------------------------------------------------

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
                result.seconds = time.monotonic() - started
        return result

    async def trail(self) -> dict[str, str]:
        """Each order's saga in one line: its state, then every input, command and state."""
        trails: dict[str, str] = {}
        for name, order_id in self.orders.items():
            try:
                saga = await self.api.saga(order_id)
            except httpx.HTTPError as exc:
                trails[name] = f"unreadable: {exc}"
                continue
            if saga is None:
                trails[name] = "no saga"
                continue
            marks = {"message_in": "<", "command_out": ">", "timeout": "!", "operator": "ops "}
            entries = []
            for entry in saga["history"]:
                detail = entry["detail"]
                if entry["kind"] == "transition":
                    entries.append(f"[{detail['to']}]")
                elif entry["kind"] in marks:
                    what = (
                        detail.get("type")
                        or detail.get("command")
                        or detail.get("step")
                        or detail.get("action")
                    )
                    entries.append(f"{marks[entry['kind']]}{what}")
            trails[name] = f"{order_id} {saga['state']}: " + " ".join(entries)
        return trails


# --- many scenarios ---------------------------------------------------------------------


async def run_scenarios(
    files: Sequence[ScenarioFile],
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    control: Control | None = None,
    parallel: int = 4,
    on_start: Callable[[ScenarioFile], None] | None = None,
    on_done: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run every scenario; results in the order of ``files``."""
    api = SystemApi(settings, transports=transports)
    results: dict[str, ScenarioResult] = {}
    gate = asyncio.Semaphore(max(1, parallel))

    def finish(result: ScenarioResult) -> None:
        results[result.path] = result
        if on_done is not None:
            on_done(result)

    async def one(file: ScenarioFile) -> None:
        async with gate:
            if on_start is not None:
                on_start(file)
            finish(await ScenarioRun(file, api, control, settings).run())

    try:
        runnable: list[ScenarioFile] = []
        for file in files:
            reason = skip_reason(file.scenario, settings, control)
            if reason is None:
                runnable.append(file)
            else:
                finish(ScenarioResult(file.name, str(file.path), "skipped", reason=reason))
        await asyncio.gather(*(one(f) for f in runnable if not exclusive(f.scenario)))
        for file in runnable:
            if exclusive(file.scenario):
                await one(file)
    finally:
        await api.aclose()
    return [results[str(f.path)] for f in files]
