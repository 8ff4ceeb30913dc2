"""Server-sent events of saga state changes (``GET /sagas/stream``), for the ops dashboard.

Included before the API's router, so ``/sagas/stream`` is not taken for a saga id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from saga.api import Runtime, stuck_rule, summary
from saga.models import SagaRow
from shared.auth import InvalidToken, Principal, verify_token
from shared.clock import utcnow
from shared.logging import get_logger
from shared.persistence.database import unavailable_reason
from shared.web.problems import Unauthorized

router = APIRouter(tags=["sagas"])
POLL_SECONDS = 0.5
"""How often the stream reads what changed."""
log = get_logger(__name__)


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


@router.get(
    "/sagas/stream",
    response_class=EventStream,
    responses={
        200: {
            "description": "``saga`` events, each a saga summary as JSON in ``data``",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream(
    request: Request,
    runtime: Runtime,
    access_token: Annotated[str | None, Query(description="for EventSource clients")] = None,
) -> StreamingResponse:
    """Server-sent events: one ``saga`` event per state change, from any saga process.

    The stream lasts as long as its token: at the token's expiry it sends an
    ``expired`` event and ends, and the client reconnects with a fresh token."""
    principal = _stream_principal(request, access_token)
    if not principal.is_ops:
        raise Unauthorized("the stream needs an ops token")

    async def changed_since(since: datetime) -> list[SagaRow]:
        # A connection for this poll only: an idle client holds none between polls.
        try:
            async with runtime.db.reads() as session:
                return list(
                    (
                        await session.exec(
                            select(SagaRow)
                            .where(col(SagaRow.updated_at) >= since)
                            .order_by(col(SagaRow.updated_at))
                            .limit(500)
                        )
                    ).all()
                )
        except Exception as error:
            reason = unavailable_reason(error)
            if reason is None:
                raise
            # The stream stays open; the next poll asks again from the same point.
            log.warning("sagas.stream_poll_failed", reason=reason)
            return []

    async def events() -> AsyncIterator[str]:
        since = utcnow() - timedelta(seconds=1)
        rule = stuck_rule(runtime)
        seen: dict[str, int] = {}
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            left = principal.expires_at - utcnow().timestamp()
            if left <= 0:
                log.info("sagas.stream_token_expired", sub=principal.sub)
                yield "event: expired\ndata: the token expired; reconnect with a fresh one\n\n"
                return
            rows = await changed_since(since)
            for row in rows:
                if seen.get(row.id) == row.version:
                    continue
                seen[row.id] = row.version
                if row.updated_at > since:
                    # Only rows at the new `since` can be read again: forget the rest.
                    since = row.updated_at
                    seen = {row.id: row.version}
                data = summary(row, rule, utcnow()).model_dump_json(by_alias=True)
                yield f"event: saga\nid: {row.id}:{row.version}\ndata: {data}\n\n"
            await asyncio.sleep(min(POLL_SECONDS, left))

    return EventStream(events())


def _stream_principal(request: Request, access_token: str | None) -> Principal:
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else access_token
    if not token:
        raise Unauthorized("a bearer token is required")
    try:
        return verify_token(request.app.state.jwt_key, token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
