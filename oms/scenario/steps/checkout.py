"""``checkout`` (through a BFF) and ``place_order`` (straight on the orders service):
the steps that place an order, under a name the file gives it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from oms.scenario.client import Request
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.spec import Name, ProductName, Spec, UserName

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class CheckoutSpec(Spec):
    """A checkout through BFF-Web (``via: web``) or BFF-Mobile (``via: mobile``)."""

    order: Name
    """The name the placed order gets (and the request, for ``repeat`` and ``http``)."""
    user: UserName
    items: dict[ProductName, Annotated[int, Field(ge=1)]] = Field(min_length=1)
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
    user: UserName
    items: dict[ProductName, QuotedLine] = Field(min_length=1)
    payment_method: str = "pm_card_ok"
    status: int | None = None


def _placing(spec: CheckoutSpec | PlaceOrderSpec, names: Names, loc: Loc) -> Iterator[Reference]:
    """A placing uses a user, products and a payment method; it defines an order and
    a request, both under the order's name."""
    yield from names.used_by(spec, loc)
    user = names.setup.users.get(spec.user)
    saved = user.payment_methods if user else {}
    if spec.payment_method not in saved and not spec.payment_method.startswith("pm_"):
        yield (
            (*loc, "payment_method"),
            f"no payment method named {spec.payment_method!r} for {spec.user!r}",
        )
    if isinstance(spec, CheckoutSpec) and spec.address and user is not None:
        yield from names.use((*loc, "address"), "address", spec.address, set(user.addresses))
    if isinstance(spec, CheckoutSpec) and spec.via == "mobile" and spec.wait_seconds:
        yield (*loc, "wait_seconds"), "BFF-Mobile's checkout does not wait"
    names.orders.add(spec.order)
    names.requests.add(spec.order)


async def _send_placing(
    run: ScenarioRun, name: str, request: Request, user: str, status: int | None, what: str
) -> None:
    run.requests[name] = (request, user)
    answer = await run.api.send(request)
    run.answers[name] = answer
    run.note_order(name, answer, user)
    run.check_status(what, status, answer)


class Checkout(StepKind):
    checkout: CheckoutSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return _placing(self.checkout, names, loc)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.checkout
        user = run.users[spec.user]
        items = [{"productId": run.products[p]["id"], "quantity": q} for p, q in spec.items.items()]
        headers = dict(user.auth)
        if spec.idempotency_key:
            headers["Idempotency-Key"] = f"{spec.idempotency_key}-{run.tag}"
        address_id, address = user.addresses[spec.address or next(iter(user.addresses))]
        method = user.payment_method(spec.payment_method)
        # The web checkout takes the address itself (and may wait); the mobile one, its id.
        shipping: dict[str, Any]
        if spec.via == "web":
            bff, shipping = "bff-web", {"shippingAddress": address}
            query = {"wait": spec.wait_seconds} if spec.wait_seconds else None
        else:
            bff, shipping, query = "bff-mobile", {"addressId": address_id}, None
        body = {"items": items, **shipping, "paymentMethodId": method}
        request = Request(bff, "POST", "/checkout", body, query, headers)
        await _send_placing(
            run, spec.order, request, spec.user, spec.status, f"checkout {spec.order}"
        )


class PlaceOrder(StepKind):
    place_order: PlaceOrderSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return _placing(self.place_order, names, loc)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.place_order
        user = run.users[spec.user]
        first = run.products[next(iter(spec.items))]
        lines = [
            {
                "productId": run.products[p]["id"],
                "quantity": line.quantity,
                "unitPrice": line.unit_price,
            }
            for p, line in spec.items.items()
        ]
        body = {
            "userId": user.user_id,
            "items": lines,
            "currency": first["currency"],
            "paymentMethodId": user.payment_method(spec.payment_method),
        }
        request = Request("orders", "POST", "/orders", body, None, dict(user.auth))
        await _send_placing(run, spec.order, request, spec.user, spec.status, f"order {spec.order}")
