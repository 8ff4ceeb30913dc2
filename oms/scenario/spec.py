"""The parts every scenario kind shares: the names a file gives, the set-up, and the
states a saga can be in as the file names them.

Unknown keys are refused everywhere (``extra="forbid"``), so a misspelt field is
an error before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from oms.components import COMPONENTS, ON_BROKER
from saga.definition import COMPENSATING, TERMINAL, StateFilter, statuses_matching
from saga.returns.statuses import TERMINAL as RETURN_TERMINAL
from saga.returns.statuses import ReturnStatus
from shared.messages import CATALOGUE

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""A name the file gives to a product, user, order, request, message or return."""


@dataclass(frozen=True)
class Uses:
    """Marks a field that names a ``what`` (``order``, ``product``…) the file gave
    before: :meth:`oms.scenario.kinds.Names.used_by` checks every such field."""

    what: Literal["order", "product", "user", "request", "message", "return"]


OrderName = Annotated[Name, Uses("order")]
ProductName = Annotated[Name, Uses("product")]
UserName = Annotated[Name, Uses("user")]
RequestName = Annotated[Name, Uses("request")]
MessageName = Annotated[Name, Uses("message")]
ReturnName = Annotated[Name, Uses("return")]
Card = Literal["pm_card_ok", "pm_card_declined", "pm_card_refund_declined"]
"""The test payment methods every user can charge (``TEST_CARDS`` in card_provider/cards.py)."""
Service = Literal["orders", "inventory", "payments", "saga"]
"""Components that take faults: the three participants, and the saga (its events)."""
HttpService = Literal["orders", "inventory", "users", "payments", "saga"]
"""Components whose HTTP routes take faults (``http_fault``): every service and the saga."""
Component = Literal[
    "card-provider", "orders", "inventory", "users", "payments", "saga", "bff-web", "bff-mobile"
]
if set(get_args(Service)) != set(ON_BROKER) or set(get_args(Component)) != set(COMPONENTS):
    raise AssertionError("Service must name oms.components.ON_BROKER, Component every component")
FaultMode = Literal["fail", "decline", "delay", "drop", "duplicate", "crash"]
CrashPoint = Literal["before_commit", "after_commit"]
OrderStatus = Literal["pending", "confirmed", "shipped", "delivered", "cancelled"]

SAGA_STATES: tuple[str, ...] = get_args(StateFilter)
"""Every saga state a file may name; ``compensating`` also matches the three undo states."""
WAIT_STATES = (*SAGA_STATES, "terminal")
TERMINAL_STATES = frozenset(status.value for status in TERMINAL)
UNDO_STATES = frozenset(statuses_matching(COMPENSATING))
"""What ``compensating`` matches: every undo state, and the one of older sagas."""
RETURN_STATES: tuple[str, ...] = tuple(status.value for status in ReturnStatus)
"""Every state a return saga may be in, as a file names it."""
RETURN_WAIT_STATES = (*RETURN_STATES, "terminal")
RETURN_TERMINAL_STATES = frozenset(status.value for status in RETURN_TERMINAL)
ReturnStatusName = Literal["requested", "received", "refunded", "expired"]
"""The statuses of a return as the orders service shows it."""
_SERVICE_OF_PREFIX = {"inventory": "inventory", "payment": "payments", "order": "orders"}


def state_matches(expected: str, seen: str | None) -> bool:
    """``compensating`` matches every undo state, ``terminal`` every end state."""
    if seen is None:
        return False
    if expected == "terminal":
        return seen in TERMINAL_STATES
    if expected == COMPENSATING:
        return seen in UNDO_STATES
    return expected == seen


def service_of(message: str) -> Service:
    """The participant that handles a command (``payment.charge`` → ``payments``)."""
    prefix = message.split(".", 1)[0]
    service = _SERVICE_OF_PREFIX.get(prefix)
    if service is None:
        raise ValueError(f"no participant handles {message!r}")
    return service  # type: ignore[return-value]


class Spec(BaseModel):
    """Every part of a scenario file: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def known_state(states: Sequence[str]) -> Callable[[str | None], str | None]:
    """A field check: a state, when given, is one of ``states``."""

    def check(state: str | None) -> str | None:
        if state is not None and state not in states:
            raise ValueError(f"{state!r} is not a saga state; one of {', '.join(states)}")
        return state

    return check


def known_message(message: str | None) -> str | None:
    """A field check: a message type, when given, is one of the message catalogue."""
    if message is not None and message not in CATALOGUE:
        raise ValueError(f"{message!r} is not a message of the catalogue")
    return message


# --- set-up -----------------------------------------------------------------------


class SagaTiming(Spec):
    """The saga timing a scenario was written for (the system's ``OMS_SAGA_*``
    settings): the runner skips the scenario, saying why, on a system set otherwise."""

    step_timeout_seconds: float | None = Field(default=None, gt=0)
    step_retries: int | None = Field(default=None, ge=0)
    compensation_retries: int | None = Field(default=None, ge=0)
    compensation_backoff_seconds: float | None = Field(default=None, ge=0)
    return_receipt_timeout_seconds: float | None = Field(default=None, gt=0)
    """How long a return waits for the warehouse (``OMS_RETURN_RECEIPT_DAYS`` in seconds)."""


class ProductSpec(Spec):
    price: int = Field(ge=0, description="minor units")
    stock: int = Field(ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    name: str = "Scenario product"


class AddressSpec(Spec):
    line1: str = "1 Analytical Row"
    line2: str | None = None
    city: str = "London"
    postal_code: str = "N1 9GU"
    country: str = "GB"


class UserSpec(Spec):
    addresses: dict[Name, AddressSpec] = Field(default_factory=lambda: {"home": AddressSpec()})
    """Saved addresses by name; the first is the one a checkout uses by default."""
    payment_methods: dict[Name, Card] = Field(default_factory=dict)
    """Saved payment methods by name, each holding a test card token."""


class FaultSpec(Spec):
    """A rule for ``POST /_faults`` on ``service`` (by default the one handling ``message``)."""

    message: str
    mode: FaultMode
    times: int = Field(default=1, ge=1, le=1_000_000)
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    copies: int = Field(default=1, ge=1, le=100)
    """With ``duplicate``: how many extra copies of each reply are published."""
    crash_point: CrashPoint = "after_commit"
    service: Service | None = None

    _known_message = field_validator("message")(known_message)

    @property
    def target(self) -> Service:
        """Where the rule goes: commands to their participant, events to the saga."""
        if self.service is not None:
            return self.service
        if CATALOGUE[self.message].kind == "event":
            return "saga"
        return service_of(self.message)


class Setup(Spec):
    saga: SagaTiming = SagaTiming()
    products: dict[Name, ProductSpec] = Field(default_factory=dict)
    users: dict[Name, UserSpec] = Field(default_factory=dict)
    faults: list[FaultSpec] = Field(default_factory=list)
