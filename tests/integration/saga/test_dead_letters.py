"""The saga's dead-letter collector keeps whatever arrives and never stops: messages
no consumer could read are listed at ``GET /dead-letters`` (raw body, headers, an
id of the collector's own when none came), and the intake goes on afterwards."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from shared.messaging.envelope import HEADER_CAUSATION, RawMessage
from tests.support.infra import RabbitVhost, eventually
from tests.support.system import System, hand_made, problem_of

API = "/api/v1"
POISON = 40


async def send_raw(request: pytest.FixtureRequest, system: System, raw: RawMessage) -> None:
    """Put ``raw`` on the stack's wire exactly as given: on RabbitMQ through the
    management API, since AMQP clients give every message an id of their own."""
    if system.stack.kind == "embedded":
        await system.stack.transport.publish_raw(raw)
        return
    vhost: RabbitVhost = request.getfixturevalue("rabbit_vhost")
    properties = {"headers": raw.headers, "delivery_mode": 2}
    for name in ("message_id", "type", "correlation_id", "app_id"):
        if getattr(raw, name) is not None:
            properties[name] = getattr(raw, name)
    vhost.publish(raw.exchange, raw.routing_key, raw.body, properties)


async def letters(system: System, queue: str) -> list[dict[str, Any]]:
    response = await system.services["saga"].get(
        f"{API}/dead-letters",
        params={"queue": queue, "limit": 500},
        headers=system.stack.ops(),
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.slow
async def test_dead_letters_without_an_envelope_are_kept_and_the_intake_goes_on(
    request: pytest.FixtureRequest, system: System
) -> None:
    marks = [uuid.uuid4().hex for _ in range(POISON)]
    for mark in marks:  # neither message_id nor type
        await send_raw(
            request,
            system,
            RawMessage(
                body=f'{{"mark": "{mark}"}}'.encode(),
                headers={"x-mark": mark, HEADER_CAUSATION: 5},
                exchange="commands",
                routing_key="inventory.reserve",
            ),
        )
    binary = RawMessage(
        body=b"\xff\xfe\x00 not text",
        headers={"x-mark": "binary"},
        exchange="commands",
        routing_key="inventory.reserve",
    )
    await send_raw(request, system, binary)

    kept = await eventually(
        lambda: letters(system, "inventory.commands"),
        until=lambda found: len(found) == POISON + 1,
        timeout=60,
        what=f"{POISON + 1} dead letters listed",
    )
    by_mark = {letter["headers"]["x-mark"]: letter for letter in kept}
    assert sorted(by_mark) == sorted([*marks, "binary"])
    for mark in marks:
        letter = by_mark[mark]
        assert "message_id: missing" in letter["reason"]
        assert "type: missing" in letter["reason"]
        assert letter["headers"][HEADER_CAUSATION] == "5"
        assert (letter["body"], letter["bodyEncoding"]) == (f'{{"mark": "{mark}"}}', "utf-8")
        assert letter["requeueable"] is False
        uuid.UUID(letter["messageId"])  # an id of its own, or the client's
    assert len({letter["messageId"] for letter in kept}) == POISON + 1
    assert by_mark["binary"]["bodyEncoding"] == "base64"
    assert base64.b64decode(by_mark["binary"]["body"]) == binary.body

    refused = await system.services["saga"].post(
        f"{API}/dead-letters/{by_mark[marks[0]]['id']}/requeue", headers=system.stack.ops()
    )
    detail = problem_of(refused, 409)["detail"]
    assert "no usable envelope" in detail
    assert "message_id: missing; type: missing" in detail  # the consumer's own reason

    # The intake goes on: a well-formed message that fails validation arrives too,
    # and the inventory consumer still takes commands (a checkout completes).
    valid = hand_made("commands", "inventory.reserve", b'{"orderId": 42}')
    await system.stack.transport.publish(valid)
    newest_first = await eventually(
        lambda: letters(system, "inventory.commands"),
        until=lambda found: any(f["messageId"] == valid.message_id for f in found),
        what="the valid dead letter listed after the poison",
    )
    after = newest_first[0]
    assert after["messageId"] == valid.message_id
    assert after["requeueable"] is True
    requeued = await system.services["saga"].post(
        f"{API}/dead-letters/{after['id']}/requeue", headers=system.stack.ops()
    )
    assert requeued.status_code == 200, requeued.text

    product = await system.add_product(stock=1)
    shopper = await system.shopper()
    response = await system.checkout(shopper, [(product["id"], 1)])
    assert response.status_code == 202, response.text
    assert await system.settled(shopper, response.json()["orderId"]) == "confirmed"
