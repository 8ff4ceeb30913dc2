"""The dead letters' HTTP API (docs/design.md, HTTP contracts): list them, requeue one."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlmodel import col, select

from saga.deadletters import DeadLetters, NotRequeueable, requeueable
from saga.models import DeadLetterRow
from shared.web.auth import OpsPrincipal
from shared.web.problems import Conflict, NotFound, problem_responses
from shared.web.schemas import CamelModel, RowId

router = APIRouter(tags=["dead letters"])


class DeadLetterView(CamelModel):
    id: int
    queue: str
    message_id: str
    """The message's own id, or one the collector gave it (header ``x-oms-assigned-message-id``)."""
    type: str
    correlation_id: str
    reason: str
    routing_key: str
    body: str
    body_encoding: Literal["utf-8", "base64"]
    """``base64`` when the body is not UTF-8 text."""
    headers: dict[str, str]
    """Every header as it came (values as text), and the collector's own ``x-oms-*`` notes."""
    requeueable: bool
    """False when the message has no usable envelope: requeueing it answers 409."""
    received_at: datetime
    requeued_at: datetime | None


async def _letters(request: Request) -> DeadLetters:
    letters: DeadLetters = request.app.state.dead_letters
    return letters


Letters = Annotated[DeadLetters, Depends(_letters)]


@router.get("/dead-letters", response_model=list[DeadLetterView])
async def list_dead_letters(
    letters: Letters,
    _ops: OpsPrincipal,
    queue: str | None = None,
    include_requeued: Annotated[bool, Query(alias="includeRequeued")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeadLetterView]:
    stmt = select(DeadLetterRow)
    if queue:
        stmt = stmt.where(DeadLetterRow.queue == queue)
    if not include_requeued:
        stmt = stmt.where(col(DeadLetterRow.requeued_at).is_(None))
    stmt = stmt.order_by(col(DeadLetterRow.id).desc()).limit(limit)
    async with letters.db.reads() as session:
        rows = (await session.exec(stmt)).all()
    return [_letter_view(r) for r in rows]


def _letter_view(row: DeadLetterRow) -> DeadLetterView:
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        body = row.body.decode("utf-8")
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(row.body).decode("ascii"), "base64"
    return DeadLetterView(
        id=row.id or 0,
        queue=row.queue,
        message_id=row.message_id,
        type=row.type,
        correlation_id=row.correlation_id,
        reason=row.reason,
        routing_key=row.routing_key,
        body=body,
        body_encoding=encoding,
        headers=row.headers,
        requeueable=requeueable(row),
        received_at=row.received_at,
        requeued_at=row.requeued_at,
    )


@router.post(
    "/dead-letters/{letter_id}/requeue",
    response_model=DeadLetterView,
    responses=problem_responses(404, 409),
)
async def requeue_dead_letter(
    letter_id: Annotated[RowId, Path()], letters: Letters, _ops: OpsPrincipal
) -> DeadLetterView:
    """Publish the letter again where it was first sent; 409 when it has no usable
    envelope (no type, unreadable properties), since nothing could consume it."""
    try:
        letter = await letters.requeue(letter_id)
    except NotRequeueable as exc:
        raise Conflict(str(exc)) from None
    if letter is None:
        raise NotFound(f"dead letter {letter_id} not found")
    return _letter_view(letter)
