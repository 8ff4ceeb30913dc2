"""OpenTelemetry tracing, set up once per process, with the official instrumentations.

Traces are exported over OTLP/HTTP when ``OMS_OTLP_ENDPOINT`` is set, sampled at
``OMS_TRACE_SAMPLE_RATIO`` (parent-based, so one request is traced whole or not
at all).  What makes the spans:

* FastAPI (each component's server spans), httpx (each downstream call of the
  BFFs), SQLAlchemy (each statement) and aio-pika (publish and receive on
  RabbitMQ): the OpenTelemetry instrumentations, installed on what a component
  builds after tracing was started (:func:`instrument_app`, :func:`instrument_client`,
  engines through ``create_async_engine``);
* the in-process transport: the same producer and consumer spans aio-pika's
  instrumentation makes, with the trace context in the message headers the same
  way (:func:`produced`, :func:`consumed`).

A message leaves through the outbox, after the transaction that wrote it: the
context it was written in travels in its stored headers and is resumed when the
relay publishes it (:func:`resumed`), so a saga's steps join the trace of the
checkout that started it.

Work nobody asked for (the outbox sweep, the deadline poller) makes database
calls outside any request: a database or HTTP call that would start a trace of
its own is not sampled.  And when a message's trace is not sampled, the
in-process transport only passes its context on, without making spans.

Without an endpoint nothing is instrumented and nothing of this runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from shared.messaging.envelope import Envelope

_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
EXCLUDED_URLS = "/health/.*,/metrics"
"""Probes and scrapes: frequent, and of no interest in a trace."""


class _NoLoneCalls(Sampler):
    """The root sampler: the ratio, except that a database or HTTP call starting a
    trace of its own (background work: a sweep, a poll) is not sampled."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneCalls{{{self._ratio.get_description()}}}"


def sampler(ratio: float) -> Sampler:
    return ParentBased(_NoLoneCalls(ratio))


def configure_tracing(service_name: str, endpoint: str | None, sample_ratio: float) -> None:
    """Export this process's traces to ``endpoint`` (nothing when it is not set)."""
    if _provider is not None or not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"oms-{service_name}"}),
        sampler=sampler(sample_ratio),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    start_tracing(provider)


def start_tracing(provider: TracerProvider) -> None:
    """Trace what is built from now on into ``provider`` (tests give one with an
    exporter in memory); aio-pika and SQLAlchemy are instrumented at once."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    _provider, _tracer = provider, provider.get_tracer("oms")
    AioPikaInstrumentor().instrument(tracer_provider=provider)
    # Its declared range stops below SQLAlchemy 2.1, which it traces as well.
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


def stop_tracing() -> None:
    """Undo :func:`start_tracing` for what is built from now on."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    AioPikaInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    _provider = _tracer = None


def tracing() -> bool:
    return _provider is not None


def instrument_app(app: FastAPI) -> None:
    """Server spans for ``app``'s requests (probes and scrapes left out)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=EXCLUDED_URLS,
        # One span per request: not one more per chunk of the body read and written.
        exclude_spans=["receive", "send"],
    )


def instrument_client(client: httpx.AsyncClient) -> None:
    """Client spans for ``client``'s calls, whichever transport it has."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)


def _unsampled(carried: context.Context) -> bool:
    """Whether ``carried`` belongs to a trace that is not sampled (as opposed to
    one that is, or to no trace yet, which the sampler decides on)."""
    parent = trace.get_current_span(carried).get_span_context()
    return parent.is_valid and not parent.trace_flags.sampled


@contextmanager
def resumed(headers: Mapping[str, str]) -> Iterator[None]:
    """Run the block in the trace context a stored message carries."""
    if _provider is None:
        yield
        return
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


def current_trace() -> context.Context | None:
    """The trace context now, when tracing is on (to resume it elsewhere)."""
    return None if _provider is None else context.get_current()


@contextmanager
def within(carried: context.Context | None) -> Iterator[None]:
    """Run the block in a trace context :func:`current_trace` took."""
    if carried is None:
        yield
        return
    token = context.attach(carried)
    try:
        yield
    finally:
        context.detach(token)


def produced(envelope: Envelope) -> Envelope:
    """``envelope`` as the in-process transport delivers it: with a producer span
    under the context it carries, and that span's context in its headers."""
    if _tracer is None:
        return envelope
    carried = propagate.extract(envelope.headers)
    if _unsampled(carried):
        return envelope
    headers = dict(envelope.headers)
    with _tracer.start_as_current_span(
        f"{envelope.exchange},{envelope.routing_key} send",
        context=carried,
        kind=SpanKind.PRODUCER,
        attributes=_attributes(envelope.exchange, envelope.message_id),
    ):
        propagate.inject(headers)
    return envelope.model_copy(update={"headers": headers})


@contextmanager
def consumed(headers: Any, exchange: str, message_id: Any) -> Iterator[None]:
    """Run an in-process delivery under a consumer span, child of the trace its
    ``headers`` carry (whatever they hold: a raw message is trusted in nothing)."""
    if _tracer is None:
        yield
        return
    carrier = (
        {k: v for k, v in headers.items() if isinstance(v, str)}
        if isinstance(headers, Mapping)
        else {}
    )
    token = context.attach(propagate.extract(carrier))
    try:
        if _unsampled(context.get_current()):
            yield
            return
        with _tracer.start_as_current_span(
            f"{exchange} receive",
            kind=SpanKind.CONSUMER,
            attributes={
                **_attributes(exchange, message_id),
                "messaging.operation": "receive",
            },
        ):
            yield
    finally:
        context.detach(token)


def _attributes(exchange: str, message_id: Any) -> dict[str, str]:
    """What aio-pika's instrumentation says of a message on RabbitMQ."""
    attributes = {"messaging.system": "oms-inprocess", "messaging.destination": exchange}
    if isinstance(message_id, str):
        attributes["messaging.message.id"] = message_id
    return attributes
