"""``/me``: the caller's saved addresses and payment methods, listed, added and removed.

Both BFFs mount this router, so a shop never calls a domain service: addresses
live in the users service, payment methods in the payments service, and the
caller's token goes on to them (they apply ownership; another user's id is a 404).  A new address is
validated by the users service's own rules before any call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Path, status
from pydantic import BaseModel

from bff.app import Bff, BffDep
from bff.caller import Caller, CurrentCaller
from bff.problems import answer_within, parse_answer
from bff.schemas import TEST_CARDS_TEXT, Address, NewPaymentMethod, PaymentMethod
from services.users.schemas import AddressIn as NewAddress
from shared.web.app import API_PREFIX as API
from shared.web.problems import problem_responses

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/me", tags=["me"])
# The users and payments services' rules for an id: what they would refuse, refused here.
_SAVED_ID = {"min_length": 1, "max_length": 64, "pattern": r"^[A-Za-z0-9._:@-]+$"}
AddressId = Annotated[str, Path(description="a saved address's id", **_SAVED_ID)]
MethodId = Annotated[str, Path(description="a saved payment method's id", **_SAVED_ID)]


@dataclass(frozen=True)
class _Saved(Generic[M]):
    """What a caller saves in one service: its path under the caller's user, its model."""

    service: str
    path: str
    model: type[M]

    def url(self, caller: Caller, *item: str) -> str:
        return "/".join(
            (
                f"{API}/users/{quote(caller.user_id, safe='')}/{self.path}",
                *(quote(i, safe="") for i in item),
            )
        )

    async def listed(self, bff: Bff, caller: Caller) -> list[M]:
        async with answer_within(bff.settings.bff_request_deadline_seconds):
            answer = await bff.downstreams[self.service].get_json(
                self.url(caller), headers=caller.auth
            )
        return [parse_answer(self.model, a, self.service) for a in answer]

    async def add(self, bff: Bff, caller: Caller, body: dict[str, Any]) -> M:
        async with answer_within(bff.settings.bff_write_deadline_seconds):
            # Not retried: a second attempt after a lost answer would save it twice.
            answer = await bff.downstreams[self.service].post_json(
                self.url(caller), body, headers=caller.auth
            )
        return parse_answer(self.model, answer, self.service)

    async def remove(self, bff: Bff, caller: Caller, item_id: str) -> None:
        async with answer_within(bff.settings.bff_write_deadline_seconds):
            await bff.downstreams[self.service].delete(
                self.url(caller, item_id), headers=caller.auth
            )


ADDRESSES = _Saved("users", "addresses", Address)
PAYMENT_METHODS = _Saved("payments", "payment-methods", PaymentMethod)


@router.get("/addresses", responses=problem_responses(401, 502, 504))
async def my_addresses(caller: CurrentCaller, bff: BffDep) -> list[Address]:
    """The saved addresses, oldest first."""
    return await ADDRESSES.listed(bff, caller)


@router.post(
    "/addresses",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 422, 502, 504),
)
async def add_address(body: NewAddress, caller: CurrentCaller, bff: BffDep) -> Address:
    """Save an address; its ``id`` is the ``addressId`` of a mobile checkout."""
    return await ADDRESSES.add(bff, caller, body.model_dump(by_alias=True, exclude_none=True))


@router.delete(
    "/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422, 502, 504),
)
async def remove_address(address_id: AddressId, caller: CurrentCaller, bff: BffDep) -> None:
    """Forget a saved address; orders placed with it keep their own copy."""
    await ADDRESSES.remove(bff, caller, address_id)


@router.get(
    "/payment-methods",
    responses=problem_responses(401, 502, 504),
    description=f"The saved payment methods, oldest first. {TEST_CARDS_TEXT}",
)
async def my_payment_methods(caller: CurrentCaller, bff: BffDep) -> list[PaymentMethod]:
    return await PAYMENT_METHODS.listed(bff, caller)


@router.post(
    "/payment-methods",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422, 502, 504),
    description=f"Save a card by its gateway token (409 if it is saved already). {TEST_CARDS_TEXT}",
)
async def add_payment_method(
    body: NewPaymentMethod, caller: CurrentCaller, bff: BffDep
) -> PaymentMethod:
    return await PAYMENT_METHODS.add(bff, caller, body.model_dump())


@router.delete(
    "/payment-methods/{method_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422, 502, 504),
)
async def remove_payment_method(method_id: MethodId, caller: CurrentCaller, bff: BffDep) -> None:
    """Forget a saved card: orders placed with it are still refunded if cancelled."""
    await PAYMENT_METHODS.remove(bff, caller, method_id)
