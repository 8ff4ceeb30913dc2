"""Fault injection for QA: a thin layer around message handlers.

Off unless ``OMS_FAULTS_ENABLED=true``.  An ops user posts rules to
``/_faults``: for a command name, a mode and a count.  The layer is an
:class:`~shared.messaging.endpoint.Endpoint` middleware, so handlers carry no
fault code; the one exception is ``decline``, which a participant reads through
:func:`declined` where its business answer is decided (payments, in place of
the card provider's answer; inventory, the stock check).

Modes: ``fail`` (raise: the message is retried, then dead-lettered), ``decline``
(answer no), ``delay`` (wait ``delayMs`` first), ``drop`` (swallow: never answer),
``duplicate`` (publish every reply again, ``copies`` times, same message id),
``crash`` (exit the process, ``before`` or ``after`` the handler's commit).

The saga takes faults too, on the events it consumes (``crash`` after its commit
and before its ack, ``delay``, ``drop``, ``fail``), so QA can stop it at any point
of a saga.

The same ``/_faults`` takes rules for the component's HTTP routes (``latency``,
``error``, ``hang``, ``reset``), on every service, those that consume no messages
too: see :mod:`shared.web.faults`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, status
from pydantic import Discriminator, Field, JsonValue, Tag, create_model

from shared.logging import get_logger
from shared.messages import CATALOGUE
from shared.messaging.endpoint import sent_by_handler
from shared.messaging.transport import Incoming, Transport
from shared.web.auth import OpsPrincipal
from shared.web.faults import EVERY_ROUTE, RouteFaultRule, RouteFaults
from shared.web.problems import NotFound, Unprocessable
from shared.web.schemas import JsonInteger, RequestBody

log = get_logger(__name__)

FaultMode = Literal["fail", "decline", "delay", "drop", "duplicate", "crash"]
_declined: ContextVar[bool] = ContextVar("fault_declined", default=False)


def declined() -> bool:
    """Whether a ``decline`` fault applies to the message being handled."""
    return _declined.get()


class InjectedFailure(RuntimeError):
    """Raised by the ``fail`` mode."""


class FaultRule(RequestBody):
    message: str = Field(description="the name of a message the component consumes")
    mode: FaultMode
    times: Annotated[int, Field(ge=1, le=1_000_000), JsonInteger] = 1
    delay_ms: Annotated[int, Field(ge=0, le=600_000), JsonInteger] = 0
    copies: Annotated[
        int, Field(ge=1, le=100, description="extra copies a duplicate sends"), JsonInteger
    ] = 1
    crash_point: Literal["before_commit", "after_commit"] = "after_commit"


class Faults:
    """The rules of one process, and the middleware that applies them."""

    def __init__(
        self,
        transport: Transport,
        *,
        exit: Callable[[int], None] = os._exit,
        targets: Iterable[str] = (),
    ) -> None:
        self._transport = transport
        self._exit = exit
        self._targets = targets
        self.rules: list[FaultRule] = []

    @property
    def targets(self) -> tuple[str, ...]:
        """The message names the component consumes, and so the names rules may give."""
        return tuple(sorted(self._targets))

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def armed(self) -> bool:
        """Whether a rule waits for a message (each message is then handled alone)."""
        return bool(self.rules)

    def clear(self) -> None:
        self.rules.clear()

    def _take(self, message_type: str) -> FaultRule | None:
        for index, rule in enumerate(self.rules):
            if rule.message == message_type:
                remaining = rule.times - 1
                if remaining:
                    self.rules[index] = rule.model_copy(update={"times": remaining})
                else:
                    del self.rules[index]
                return rule
        return None

    async def __call__(self, incoming: Incoming, inner: Callable[[], Awaitable[None]]) -> None:
        rule = self._take(incoming.envelope.type)
        if rule is None:
            await inner()
            return
        log.warning("fault.injected", mode=rule.mode, type=incoming.envelope.type)
        if rule.mode == "fail":
            raise InjectedFailure(f"injected failure for {incoming.envelope.type}")
        if rule.mode == "drop":
            return
        if rule.mode == "delay":
            await asyncio.sleep(rule.delay_ms / 1000)
            await inner()
        elif rule.mode == "decline":
            token = _declined.set(True)
            try:
                await inner()
            finally:
                _declined.reset(token)
        elif rule.mode == "duplicate":
            await inner()
            for _ in range(rule.copies):
                for envelope in sent_by_handler.get():
                    await self._transport.publish(envelope)
        elif rule.mode == "crash":
            if rule.crash_point == "before_commit":
                self._exit(70)
            await inner()
            self._exit(70)


def _kind_of(targets: Iterable[str]) -> str:
    """``an event``, ``a command``: what the names are, for a sentence."""
    kinds = " or ".join(sorted({CATALOGUE[name].kind for name in targets})) or "message"
    return f"{'an' if kinds[0] in 'aeiou' else 'a'} {kinds}"


def _rule_model(targets: Sequence[str]) -> type[FaultRule]:
    """The rule as this component's document describes it: ``message`` is one of
    the names it consumes (commands for a participant, events for the saga)."""
    if not targets:
        return FaultRule
    message = Field(
        description=f"{_kind_of(targets)} name the component consumes",
        json_schema_extra={"enum": list[JsonValue](targets)},
    )
    return create_model("FaultRule", __base__=FaultRule, message=(str, message))


def _route_rule_model(routes: Sequence[str]) -> type[RouteFaultRule]:
    """The route rule as this component's document describes it: ``route`` is one
    of its API paths, or ``*``."""
    route = Field(
        description="a path of this component's API, or `*` for every one",
        json_schema_extra={"enum": list[JsonValue]([EVERY_ROUTE, *routes])},
    )
    return create_model("RouteFaultRule", __base__=RouteFaultRule, route=(str, route))


def _kind_of_rule(value: Any) -> str:
    """``route`` for a rule naming a route, ``message`` otherwise (the older kind)."""
    if isinstance(value, dict):
        return "route" if "route" in value else "message"
    return "route" if isinstance(value, RouteFaultRule) else "message"


def faults_router(
    targets: Sequence[str] = (), routes: Sequence[str] = (), prefix: str = ""
) -> APIRouter:
    """``/_faults``: ops-only; answers only when faults are enabled.  ``targets``
    are the message names the component consumes, ``routes`` its API paths:
    the names rules may give."""
    router = APIRouter(prefix=prefix, tags=["faults"])
    MessageRule = _rule_model(targets)
    RouteRule = _route_rule_model(routes)
    Rule = Annotated[
        Annotated[MessageRule, Tag("message")] | Annotated[RouteRule, Tag("route")],  # type: ignore[valid-type]
        Discriminator(_kind_of_rule),
    ]

    def _enabled(request: Request) -> tuple[Faults | None, RouteFaults]:
        route_faults: RouteFaults | None = getattr(request.app.state, "route_faults", None)
        if route_faults is None:
            raise NotFound("fault injection is disabled (OMS_FAULTS_ENABLED=false)")
        return getattr(request.app.state, "faults", None), route_faults

    async def add_fault(
        body: FaultRule | RouteFaultRule, request: Request, _ops: OpsPrincipal
    ) -> FaultRule | RouteFaultRule:
        faults, route_faults = _enabled(request)
        if isinstance(body, RouteFaultRule):
            if body.route != EVERY_ROUTE and body.route not in route_faults.routes:
                raise Unprocessable(
                    f"route: {body.route!r} is not a path of {request.app.title}'s API "
                    f"(one of {', '.join(route_faults.routes)}, or {EVERY_ROUTE})",
                    field="route",
                )
            route_faults.add(body)
            return body
        if faults is None:
            raise Unprocessable(
                f"message: {request.app.title} consumes no messages: only route rules apply",
                field="message",
            )
        if body.message not in faults.targets:
            raise Unprocessable(
                f"message: {body.message!r} is not {_kind_of(faults.targets)} name "
                f"{request.app.title} consumes (one of {', '.join(faults.targets)})",
                field="message",
            )
        faults.add(body)
        return body

    # The body as this component describes it (annotations are strings here, and
    # a local class is not among the module's names FastAPI resolves them in).
    add_fault.__annotations__["body"] = Rule
    router.post("/_faults", status_code=status.HTTP_201_CREATED, response_model=Rule)(add_fault)

    @router.get("/_faults", response_model=list[Rule])
    async def list_faults(request: Request, _ops: OpsPrincipal) -> list[FaultRule | RouteFaultRule]:
        faults, route_faults = _enabled(request)
        return [*(faults.rules if faults else ()), *route_faults.rules]

    @router.delete("/_faults", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_faults(request: Request, _ops: OpsPrincipal) -> None:
        faults, route_faults = _enabled(request)
        if faults is not None:
            faults.clear()
        route_faults.clear()

    return router
