"""The card provider's HTTP API: charges and refunds, each under an ``Idempotency-Key``.

A request repeated with its key is answered as the first time (``Idempotent-Replayed:
true``) and moves no money again; the same key with another body is refused (422).
A declined charge or refund is an answer like any other (201, ``status: declined``
with its ``code``), kept under its key: asking again gets the same decline.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response, status

from card_provider.cards import Cards
from card_provider.ledger import Answer, KeyReused, Ledger, UnknownCharge
from card_provider.schemas import (
    Balance,
    CardOut,
    ChargeOut,
    NewCharge,
    NewRefund,
    NewVoid,
    RefundOut,
)
from shared.web.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER
from shared.web.problems import NotFound, Unprocessable, problem_responses

router = APIRouter(tags=["card provider"])

RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="unique per charge or refund; a retry with the same key and body "
        "gets the first answer and moves no money again",
    ),
]
ChargeId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^ch_[0-9a-f]{1,37}$")]


async def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(_ledger)]


def _answered(answer: Answer, response: Response) -> None:
    if answer.replayed:
        response.headers[REPLAYED_HEADER] = "true"


def _key_reused(error: KeyReused) -> Unprocessable:
    return Unprocessable(str(error), field=IDEMPOTENCY_HEADER)


@router.post("/charges", status_code=status.HTTP_201_CREATED, responses=problem_responses(422))
async def create_charge(
    body: NewCharge, key: RequiredIdempotencyKey, ledger: LedgerDep, response: Response
) -> ChargeOut:
    """Charge a card, once per key: captured, or declined with the reason."""
    try:
        answer = await ledger.charge(key, body.token, body.amount, body.currency)
    except KeyReused as error:
        raise _key_reused(error) from None
    _answered(answer, response)
    return ChargeOut.model_validate(answer.row)


@router.post("/voids", responses=problem_responses(422))
async def void_charge(body: NewVoid, ledger: LedgerDep) -> ChargeOut:
    """The charge sent with an idempotency key whose answer the caller never heard.

    If no charge came with that key, the key is voided now: a charge arriving
    with it later (delayed on the way) is declined with code ``voided`` and
    captures nothing, so the caller can settle the payment as never made."""
    answer = await ledger.void(body.idempotency_key)
    found = await ledger.charge_by_id(answer.row["id"])
    refunded = found[1] if found is not None else 0
    return ChargeOut.model_validate({**answer.row, "refunded": refunded})


@router.get("/charges/{charge_id}", responses=problem_responses(404, 422))
async def get_charge(charge_id: ChargeId, ledger: LedgerDep) -> ChargeOut:
    found = await ledger.charge_by_id(charge_id)
    if found is None:
        raise NotFound("no such charge")
    charge, refunded = found
    return ChargeOut.model_validate({**charge, "refunded": refunded})


@router.post(
    "/charges/{charge_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 422),
)
async def create_refund(
    charge_id: ChargeId,
    body: NewRefund,
    key: RequiredIdempotencyKey,
    ledger: LedgerDep,
    response: Response,
) -> RefundOut:
    """Pay back part or all of a charge, once per key: succeeded, or declined with the reason."""
    try:
        answer = await ledger.refund(key, charge_id, body.amount)
    except KeyReused as error:
        raise _key_reused(error) from None
    except UnknownCharge:
        raise NotFound("no such charge", field="chargeId") from None
    _answered(answer, response)
    return RefundOut.model_validate(answer.row)


@router.get("/test-cards/{token}", responses=problem_responses(404, 422))
async def get_test_card(
    token: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    request: Request,
) -> CardOut:
    """A test card anyone may charge, as it shows to a customer."""
    cards: Cards = request.app.state.cards
    card = cards.get(token)
    if card is None:
        raise NotFound("no such test card")
    return CardOut(token=token, brand=card.brand, last4=card.last4)


@router.get("/balance")
async def balance(ledger: LedgerDep) -> Balance:
    """Everything captured and paid back: what the provider holds of the merchant's sales."""
    captured, refunded = await ledger.balance()
    return Balance(captured=captured, refunded=refunded, net=captured - refunded)
