"""OpenTelemetry tracing, set up once per process.

Traces are exported over OTLP/HTTP when ``OMS_OTLP_ENDPOINT`` is set, sampled at
``OMS_TRACE_SAMPLE_RATIO`` (parent-based, so one request is traced whole or not
at all).  Trace context travels in W3C headers on HTTP calls and on every
message, so a saga's steps join the trace of the checkout that started it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind

_configured = False


def configure_tracing(service_name: str, endpoint: str | None, sample_ratio: float) -> None:
    global _configured
    if _configured or not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"oms-{service_name}"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    _configured = True


tracer = trace.get_tracer("oms")


@contextmanager
def consuming(message_type: str, headers: Mapping[str, str]) -> Iterator[Span]:
    """A consumer span, child of the trace the message's headers carry."""
    token = context.attach(propagate.extract(dict(headers)))
    try:
        with tracer.start_as_current_span(
            f"consume {message_type}",
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "rabbitmq", "messaging.operation": "process"},
        ) as span:
            yield span
    finally:
        context.detach(token)
