"""A sink for the spans of a benchmarked system: it takes OTLP/HTTP exports and
drops them, so tracing costs the components what exporting costs them, without a
trace backend on the machine.  It runs in the benchmark's own process, whose CPU
is not counted as the system's."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import Receive, Scope, Send

from oms.serving import serving


class OtlpSink:
    """Counts what it was sent: exports (requests) and their bytes."""

    def __init__(self) -> None:
        self.endpoint = ""
        self.exports = 0
        self.bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            self.bytes += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.exports += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def otlp_sink(host: str, *, enabled: bool = True) -> AsyncIterator[OtlpSink | None]:
    """A sink serving while the block runs (None when not ``enabled``)."""
    if not enabled:
        yield None
        return
    sink = OtlpSink()
    config = uvicorn.Config(sink, host=host, port=0, lifespan="off", log_config=None)
    async with serving(config) as sink.endpoint:
        yield sink
