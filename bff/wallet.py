"""``/me``: the caller's saved addresses and payment methods, listed, added and removed.

Both BFFs mount this router, so a shop never calls a domain service: addresses
live in the users service, payment methods in the payments service, and the
caller's token goes on to them (they apply ownership; another user's id is a 404).  A new address is
validated by the users service's own rules before any call.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, status

from bff.app import BffDep
from bff.caller import Caller, CurrentCaller
from bff.problems import answer_within, parse_answer
from bff.schemas import TEST_CARDS_TEXT, Address, NewPaymentMethod, PaymentMethod
from services.users.schemas import AddressIn as NewAddress
from shared.web.app import API_PREFIX as API
from shared.web.problems import problem_responses

router = APIRouter(prefix="/me", tags=["me"])
# The users and payments services' rules for an id: what they would refuse, refused here.
_SAVED_ID = {"min_length": 1, "max_length": 64, "pattern": r"^[A-Za-z0-9._:@-]+$"}
AddressId = Annotated[str, Path(description="a saved address's id", **_SAVED_ID)]
MethodId = Annotated[str, Path(description="a saved payment method's id", **_SAVED_ID)]


def _addresses(caller: Caller) -> str:
    return f"{API}/users/{quote(caller.user_id, safe='')}/addresses"


def _methods(caller: Caller) -> str:
    return f"{API}/users/{quote(caller.user_id, safe='')}/payment-methods"


@router.get("/addresses", responses=problem_responses(401, 502, 504))
async def my_addresses(caller: CurrentCaller, bff: BffDep) -> list[Address]:
    """The saved addresses, oldest first."""
    async with answer_within(bff.settings.bff_request_deadline_seconds):
        answer = await bff.downstreams.users.get_json(_addresses(caller), headers=caller.auth)
    return [parse_answer(Address, a, "users") for a in answer]


@router.post(
    "/addresses",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 422, 502, 504),
)
async def add_address(body: NewAddress, caller: CurrentCaller, bff: BffDep) -> Address:
    """Save an address; its ``id`` is the ``addressId`` of a mobile checkout."""
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        # Not retried: a second attempt after a lost answer would save it twice.
        answer = await bff.downstreams.users.post_json(
            _addresses(caller),
            body.model_dump(by_alias=True, exclude_none=True),
            headers=caller.auth,
        )
    return parse_answer(Address, answer, "users")


@router.delete(
    "/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422, 502, 504),
)
async def remove_address(address_id: AddressId, caller: CurrentCaller, bff: BffDep) -> None:
    """Forget a saved address; orders placed with it keep their own copy."""
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        await bff.downstreams.users.delete(
            f"{_addresses(caller)}/{quote(address_id, safe='')}", headers=caller.auth
        )


@router.get(
    "/payment-methods",
    responses=problem_responses(401, 502, 504),
    description=f"The saved payment methods, oldest first. {TEST_CARDS_TEXT}",
)
async def my_payment_methods(caller: CurrentCaller, bff: BffDep) -> list[PaymentMethod]:
    async with answer_within(bff.settings.bff_request_deadline_seconds):
        answer = await bff.downstreams.payments.get_json(_methods(caller), headers=caller.auth)
    return [parse_answer(PaymentMethod, m, "payments") for m in answer]


@router.post(
    "/payment-methods",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422, 502, 504),
    description=f"Save a card by its gateway token (409 if it is saved already). {TEST_CARDS_TEXT}",
)
async def add_payment_method(
    body: NewPaymentMethod, caller: CurrentCaller, bff: BffDep
) -> PaymentMethod:
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        answer = await bff.downstreams.payments.post_json(
            _methods(caller), body.model_dump(), headers=caller.auth
        )
    return parse_answer(PaymentMethod, answer, "payments")


@router.delete(
    "/payment-methods/{method_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 422, 502, 504),
)
async def remove_payment_method(method_id: MethodId, caller: CurrentCaller, bff: BffDep) -> None:
    """Forget a saved card: orders placed with it are still refunded if cancelled."""
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        await bff.downstreams.payments.delete(
            f"{_methods(caller)}/{quote(method_id, safe='')}", headers=caller.auth
        )
