"""A QA scenario file as pydantic models: the schema every YAML file is checked against.

A scenario has a set-up, steps and expectations.  Every step and every
expectation is a mapping with exactly one key, its kind::

    name: declined-card
    setup:
      products: {kettle: {price: 1250, stock: 5}}
      users: {ada: {payment_methods: {card: pm_card_declined}}}
    steps:
      - checkout: {order: o1, user: ada, items: {kettle: 2}, payment_method: card}
    expect:
      - order: {order: o1, status: cancelled, reason: payment declined}
      - stock: {product: kettle, available: 5}

Products, users, orders, requests and published messages are named in the file
(``kettle``, ``ada``, ``o1``); the runner creates real ones with unique skus and
emails, so scenarios can run side by side on one system.  Unknown keys are
refused everywhere (``extra="forbid"``), so a misspelt field or an unknown kind
is an error before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
)

from saga.definition import StateFilter
from shared.messages import CATALOGUE

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""A name the file gives to a product, user, order, request or message."""
Card = Literal["pm_card_ok", "pm_card_declined", "pm_card_refund_declined"]
"""The test payment methods every user can charge (docs/design.md, HTTP contracts)."""
Service = Literal["orders", "inventory", "payments", "saga"]
"""Components that take faults: the three participants, and the saga (its events)."""
Component = Literal["orders", "inventory", "users", "payments", "saga", "bff-web", "bff-mobile"]
FaultMode = Literal["fail", "decline", "delay", "drop", "duplicate", "crash"]
CrashPoint = Literal["before_commit", "after_commit"]
OrderStatus = Literal["pending", "confirmed", "cancelled"]

SAGA_STATES: tuple[str, ...] = get_args(StateFilter)
"""Every saga state a file may name; ``compensating`` also matches the three undo states."""
WAIT_STATES = (*SAGA_STATES, "terminal")
_SERVICE_OF_PREFIX = {"inventory": "inventory", "payment": "payments", "order": "orders"}


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


# --- set-up -----------------------------------------------------------------------


class SagaTiming(Spec):
    """The saga timing a scenario was written for (the system's ``OMS_SAGA_*``
    settings): the runner skips the scenario, saying why, on a system set otherwise."""

    step_timeout_seconds: float | None = Field(default=None, gt=0)
    step_retries: int | None = Field(default=None, ge=0)
    compensation_retries: int | None = Field(default=None, ge=0)
    compensation_backoff_seconds: float | None = Field(default=None, ge=0)


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

    @field_validator("message")
    @classmethod
    def _known_message(cls, message: str) -> str:
        if message not in CATALOGUE:
            raise ValueError(f"{message!r} is not a message of the catalogue")
        return message

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


# --- steps ------------------------------------------------------------------------


class CheckoutSpec(Spec):
    """A checkout through BFF-Web (``via: web``) or BFF-Mobile (``via: mobile``)."""

    order: Name
    """The name the placed order gets (and the request, for ``repeat`` and ``http``)."""
    user: Name
    items: dict[Name, Annotated[int, Field(ge=1)]] = Field(min_length=1)
    """Product name → quantity."""
    via: Literal["web", "mobile"] = "web"
    payment_method: str = "pm_card_ok"
    """A saved method's name, or a test card token."""
    address: Name | None = None
    """A saved address's name (default: the user's first)."""
    idempotency_key: str | None = None
    wait_seconds: float | None = Field(default=None, ge=0, le=30)
    """BFF-Web's ``?wait=``: answer with the final status if the saga ends by then."""
    status: int | None = None
    """The HTTP status expected (default: any 2xx)."""


class QuotedLine(Spec):
    quantity: int = Field(ge=1)
    unit_price: int = Field(ge=0)


class PlaceOrderSpec(Spec):
    """An order placed straight on the orders service at prices the client quotes
    (a stale quote, another channel), as a BFF would place it."""

    order: Name
    user: Name
    items: dict[Name, QuotedLine] = Field(min_length=1)
    payment_method: str = "pm_card_ok"
    status: int | None = None


class CancelSpec(Spec):
    """The order's owner asks to cancel it through BFF-Web."""

    order: Name
    request: Name | None = None
    """A name for this request, for ``http`` expectations."""
    status: int | None = 202


class WaitSpec(Spec):
    """Wait until the order's saga is in ``state`` (``terminal``: any end state)."""

    order: Name
    state: str
    timeout_seconds: float | None = Field(default=None, gt=0)

    @field_validator("state")
    @classmethod
    def _known_state(cls, state: str) -> str:
        if state not in WAIT_STATES:
            raise ValueError(f"{state!r} is not a saga state; one of {', '.join(WAIT_STATES)}")
        return state


class RepeatSpec(Spec):
    """Send an earlier request again, exactly as it was sent."""

    request: Name
    """The request to repeat: a checkout's order name or a cancel's request name."""
    order: Name | None = None
    """A name for the order the repeated checkout answers (e.g. to compare ids)."""
    status: int | None = None


class CrashSpec(Spec):
    """Crash a component: at once (a kill), or while it handles the next message of
    type ``handling`` (fault mode ``crash``, before or after its commit)."""

    component: Component
    handling: str | None = None
    point: CrashPoint = "after_commit"

    @field_validator("handling")
    @classmethod
    def _known_message(cls, message: str | None) -> str | None:
        if message is not None and message not in CATALOGUE:
            raise ValueError(f"{message!r} is not a message of the catalogue")
        return message


class RestartSpec(Spec):
    """Start a crashed component again and wait until it is ready."""

    component: Component


class CutBrokerSpec(Spec):
    """Close every broker connection of the system (what a network cut does)."""


class PublishSpec(Spec):
    """Publish a raw message, e.g. a poison one no consumer can handle."""

    routing_key: str
    exchange: str = "commands"
    type: str | None = None
    """The message's type property (default: the routing key)."""
    body: str | dict[str, Any] = "{}"
    """Sent as is when text, as JSON when a mapping."""
    name: Name | None = None
    """A name for the message, for ``dead_letter`` expectations."""
    order: Name | None = None
    """The order it is about (its correlation id); default a fresh id."""
    times: int = Field(default=1, ge=1, le=100)


class ClearFaultsSpec(Spec):
    service: Service


class OperatorSpec(Spec):
    """An ops action on the order's saga (``POST /sagas/{id}/retry`` or ``/abort``)."""

    order: Name
    reason: str = "asked by a QA scenario"
    status: int | None = 200


class Checkout(Spec):
    checkout: CheckoutSpec


class PlaceOrder(Spec):
    place_order: PlaceOrderSpec


class Cancel(Spec):
    cancel: CancelSpec


class Wait(Spec):
    wait: WaitSpec


class Repeat(Spec):
    repeat: RepeatSpec


class Crash(Spec):
    crash: CrashSpec


class Restart(Spec):
    restart: RestartSpec


class CutBroker(Spec):
    cut_broker: CutBrokerSpec


class Publish(Spec):
    publish: PublishSpec


class Fault(Spec):
    fault: FaultSpec


class ClearFaults(Spec):
    clear_faults: ClearFaultsSpec


class Retry(Spec):
    retry: OperatorSpec


class Abort(Spec):
    abort: OperatorSpec


class Concurrently(Spec):
    """Run these steps at the same time; the scenario goes on when all are done."""

    concurrently: list[Step] = Field(min_length=2)


def _kind(value: Any) -> str | None:
    """The kind of a step or expectation: its one key (or its model's one field)."""
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


STEP_KINDS: dict[str, type[Spec]] = {
    "checkout": Checkout,
    "place_order": PlaceOrder,
    "cancel": Cancel,
    "wait": Wait,
    "repeat": Repeat,
    "crash": Crash,
    "restart": Restart,
    "cut_broker": CutBroker,
    "publish": Publish,
    "fault": Fault,
    "clear_faults": ClearFaults,
    "retry": Retry,
    "abort": Abort,
    "concurrently": Concurrently,
}
UNKNOWN_KIND = "unknown_kind"

Step: TypeAlias = Annotated[
    Annotated[Checkout, Tag("checkout")]
    | Annotated[PlaceOrder, Tag("place_order")]
    | Annotated[Cancel, Tag("cancel")]
    | Annotated[Wait, Tag("wait")]
    | Annotated[Repeat, Tag("repeat")]
    | Annotated[Crash, Tag("crash")]
    | Annotated[Restart, Tag("restart")]
    | Annotated[CutBroker, Tag("cut_broker")]
    | Annotated[Publish, Tag("publish")]
    | Annotated[Fault, Tag("fault")]
    | Annotated[ClearFaults, Tag("clear_faults")]
    | Annotated[Retry, Tag("retry")]
    | Annotated[Abort, Tag("abort")]
    | Annotated[Concurrently, Tag("concurrently")],
    Discriminator(
        _kind,
        custom_error_type=UNKNOWN_KIND,
        custom_error_message=f"a step is a mapping with one key, its kind: {', '.join(STEP_KINDS)}",
    ),
]


# --- expectations -------------------------------------------------------------------


class OrderExpectation(Spec):
    order: Name
    status: OrderStatus | None = None
    reason: str | None = None
    """Found in the order's cancel reason (case-insensitive)."""
    same_as: Name | None = None
    """The same order (id) as this other one."""


class SagaExpectation(Spec):
    order: Name
    state: str | None = None
    steps: list[str] | None = None
    """Commands the saga sent, in this order; others may come between (a resend)."""
    states: list[str] | None = None
    """States the saga went through, in this order; others may come between."""
    never: list[str] = Field(default_factory=list)
    """Commands the saga never sent."""
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """How often each of these commands was sent, exactly."""
    reason: str | None = None
    """Found in the saga's failure reason (case-insensitive)."""

    @field_validator("state")
    @classmethod
    def _known_state(cls, state: str | None) -> str | None:
        if state is not None and state not in SAGA_STATES:
            raise ValueError(f"{state!r} is not a saga state; one of {', '.join(SAGA_STATES)}")
        return state

    @field_validator("steps", "never")
    @classmethod
    def _commands(cls, commands: list[str] | None) -> list[str] | None:
        for command in commands or []:
            model = CATALOGUE.get(command)
            if model is None or model.kind != "command":
                raise ValueError(f"{command!r} is not a command the saga sends")
        return commands


class StockExpectation(Spec):
    product: Name
    available: int


class MoneyExpectation(Spec):
    """Money moved for the order (``GET /payments/summary``)."""

    order: Name
    captured: int | None = None
    refunded: int | None = None
    net: int | None = None


class HttpExpectation(Spec):
    request: Name
    status: int
    headers: dict[str, str] = Field(default_factory=dict)


class OutcomesExpectation(Spec):
    """How many of these orders end in each status, whichever they are (a race)."""

    orders: list[Name] = Field(min_length=2)
    confirmed: int | None = Field(default=None, ge=0)
    cancelled: int | None = Field(default=None, ge=0)
    pending: int | None = Field(default=None, ge=0)


class OrderCountExpectation(Spec):
    user: Name
    count: int = Field(ge=0)


class DeadLetterExpectation(Spec):
    message: Name
    queue: str | None = None
    reason: str | None = None


class ExpectOrder(Spec):
    order: OrderExpectation


class ExpectSaga(Spec):
    saga: SagaExpectation


class ExpectStock(Spec):
    stock: StockExpectation


class ExpectMoney(Spec):
    money: MoneyExpectation


class ExpectHttp(Spec):
    http: HttpExpectation


class ExpectOutcomes(Spec):
    outcomes: OutcomesExpectation


class ExpectOrderCount(Spec):
    orders: OrderCountExpectation


class ExpectDeadLetter(Spec):
    dead_letter: DeadLetterExpectation


class ExpectAudit(Spec):
    """``oms audit`` over the scenario's orders and products: no invariant violated,
    no saga left in flight."""

    audit: Literal["clean"]


EXPECTATION_KINDS: dict[str, type[Spec]] = {
    "order": ExpectOrder,
    "saga": ExpectSaga,
    "stock": ExpectStock,
    "money": ExpectMoney,
    "http": ExpectHttp,
    "outcomes": ExpectOutcomes,
    "orders": ExpectOrderCount,
    "dead_letter": ExpectDeadLetter,
    "audit": ExpectAudit,
}

Expectation: TypeAlias = Annotated[
    Annotated[ExpectOrder, Tag("order")]
    | Annotated[ExpectSaga, Tag("saga")]
    | Annotated[ExpectStock, Tag("stock")]
    | Annotated[ExpectMoney, Tag("money")]
    | Annotated[ExpectHttp, Tag("http")]
    | Annotated[ExpectOutcomes, Tag("outcomes")]
    | Annotated[ExpectOrderCount, Tag("orders")]
    | Annotated[ExpectDeadLetter, Tag("dead_letter")]
    | Annotated[ExpectAudit, Tag("audit")],
    Discriminator(
        _kind,
        custom_error_type=UNKNOWN_KIND,
        custom_error_message=(
            f"an expectation is a mapping with one key, its kind: {', '.join(EXPECTATION_KINDS)}"
        ),
    ),
]


# --- the file -----------------------------------------------------------------------


class Scenario(Spec):
    name: Name | None = None
    """Defaults to the file's name without its extension."""
    description: str = ""
    pending: str | None = None
    """Why the scenario cannot pass yet: it is reported skipped, with this reason."""
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    """The longest any wait of the scenario may take, settling at the end included."""
    setup: Setup = Setup()
    steps: list[Step] = Field(min_length=1)
    expect: list[Expectation] = Field(min_length=1)


Concurrently.model_rebuild()
Scenario.model_rebuild()


def kind_of(part: BaseModel) -> str:
    """A step's or expectation's kind (its one field)."""
    return next(iter(type(part).model_fields))


def body_of(part: BaseModel) -> Any:
    """A step's or expectation's content (the value of its one field)."""
    return getattr(part, kind_of(part))
