"""The signed-in user's saved addresses and payment methods, for the checkout screen."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter

from bff import API, CurrentCaller, answer_within, parse_answer, problem_responses
from bff_mobile.context import MobileDep
from bff_mobile.schemas import Address, PaymentMethod

router = APIRouter(prefix="/me", tags=["me"])


@router.get("/addresses", responses=problem_responses(401, 502, 504))
async def my_addresses(caller: CurrentCaller, mobile: MobileDep) -> list[Address]:
    """The saved addresses, oldest first."""
    async with answer_within(mobile.settings.bff_request_deadline_seconds):
        answer = await mobile.downstreams.users.get_json(
            f"{API}/users/{quote(caller.user_id, safe='')}/addresses", headers=caller.auth
        )
    return [parse_answer(Address, a, "users") for a in answer]


@router.get("/payment-methods", responses=problem_responses(401, 502, 504))
async def my_payment_methods(caller: CurrentCaller, mobile: MobileDep) -> list[PaymentMethod]:
    """The saved payment methods, oldest first."""
    async with answer_within(mobile.settings.bff_request_deadline_seconds):
        answer = await mobile.downstreams.payments.get_json(
            f"{API}/users/{quote(caller.user_id, safe='')}/payment-methods", headers=caller.auth
        )
    return [parse_answer(PaymentMethod, m, "payments") for m in answer]
