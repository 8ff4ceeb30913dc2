"""One checkout is one trace: from BFF-Web's request through orders, the saga,
inventory and payments and back, with the database calls of each, on both stacks
(aio-pika's instrumentation on RabbitMQ, the in-process transport's own spans
embedded).  Every component runs in this process, so one exporter sees them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.telemetry import sampler, start_tracing, stop_tracing
from tests.support.infra import eventually
from tests.support.stack import Stack
from tests.support.system import System, running_system

CHECKOUT = "POST /api/v1/checkout"
MESSAGES = (
    # (exchange, routing key): each sent and received within the checkout's trace.
    ("orders", "order.created"),
    ("commands", "inventory.reserve"),
    ("products", "inventory.reserved"),
    ("commands", "payment.charge"),
    ("payments", "payment.completed"),
    ("commands", "order.confirm"),
    ("orders", "order.confirmed"),
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler(1.0))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    start_tracing(provider)
    yield exporter
    stop_tracing()
    provider.shutdown()


@pytest.fixture
async def traced(stack: Stack, spans: InMemorySpanExporter) -> AsyncIterator[System]:
    async with running_system(stack) as system:
        yield system


class Trace:
    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans = spans
        self.by_id = {s.context.span_id: s for s in spans}

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{name}: {len(found)} spans in {sorted(self.names())}"
        return found[0]

    def names(self) -> set[str]:
        return {s.name for s in self.spans}

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans if s.parent and s.parent.span_id == span.context.span_id]

    def descendants(self, span: ReadableSpan) -> Iterator[ReadableSpan]:
        for child in self.children(span):
            yield child
            yield from self.descendants(child)

    def ancestors(self, span: ReadableSpan) -> Iterator[ReadableSpan]:
        while span.parent is not None and span.parent.span_id in self.by_id:
            span = self.by_id[span.parent.span_id]
            yield span


def is_database(span: ReadableSpan) -> bool:
    return "db.system" in (span.attributes or {}) or "db.system.name" in (span.attributes or {})


async def test_one_checkout_is_one_trace_from_the_bff_through_every_service(
    traced: System, spans: InMemorySpanExporter
) -> None:
    product = await traced.add_product(price=1250, stock=5)
    shopper = await traced.shopper()
    spans.clear()

    response = await traced.checkout(shopper, [(product["id"], 2)], wait=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"

    def checkout_trace() -> Trace:
        finished = spans.get_finished_spans()
        roots = [s for s in finished if s.name == CHECKOUT and s.kind is SpanKind.SERVER]
        assert len(roots) == 1, [s.name for s in finished]
        trace_id = roots[0].context.trace_id
        return Trace([s for s in finished if s.context.trace_id == trace_id])

    # The last replies (order.confirmed to the saga) may land after the answer.
    trace = await eventually(
        lambda: _now(checkout_trace),
        until=lambda t: (
            all(f"{x},{k} send" in t.names() for x, k in MESSAGES)
            and len(t.named("orders receive")) >= 2
        ),
        what="every message of the checkout in its trace",
    )

    root = trace.one(CHECKOUT)
    assert root.parent is None
    # BFF-Web calls orders over HTTP: a client span, then orders' server span.
    # (Reached in-process, orders' request runs in the BFF's context: the
    # instrumentation then makes its span INTERNAL rather than SERVER.)
    placed = trace.one("POST /api/v1/orders")
    assert placed.kind in (SpanKind.SERVER, SpanKind.INTERNAL)
    assert root in trace.ancestors(placed)
    assert any(s.kind is SpanKind.CLIENT for s in trace.ancestors(placed))
    assert any(is_database(s) for s in trace.descendants(placed))
    # Each message is sent once within the trace and received by its consumer,
    # whose database work is part of the trace too.
    for exchange, key in MESSAGES:
        sent = trace.one(f"{exchange},{key} send")
        assert sent.kind is SpanKind.PRODUCER
        received = [s for s in trace.children(sent) if s.kind is SpanKind.CONSUMER]
        assert len(received) == 1, f"{key} received {len(received)} times"
        assert received[0].name == f"{exchange} receive"
        assert any(is_database(s) for s in trace.descendants(received[0])), key
    # The saga's commands follow from what it received: the chain is unbroken.
    for earlier, later in (
        ("order.created", "inventory.reserve"),
        ("payment.completed", "order.confirm"),
    ):
        sent = trace.one(f"commands,{later} send")
        before = {s.name for s in trace.ancestors(sent)}
        assert any(name.endswith(f",{earlier} send") for name in before), (later, before)
    assert not [s.name for s in trace.spans if s.name in ("GET /metrics", "GET /health/ready")]


async def _now(probe: object) -> Trace:
    assert callable(probe)
    result = probe()
    assert isinstance(result, Trace)
    return result
