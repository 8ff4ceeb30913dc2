"""The HTTP/1.1 protocol every component is served with: uvicorn's httptools
protocol, with the two bounds it lacks on a request's head.

* **Size**: the request line and headers together may hold ``max_head_bytes``;
  past that the answer is 431 problem+json and the connection is closed, the
  rest unread.  (httptools itself gathers a header of any length.)
* **Time**: a connection has ``head_timeout`` seconds, from when it opened or
  its previous answer was sent, to finish a request's head; then it is closed,
  with a 408 when part of a head had come.  uvicorn's keep-alive timeout closes
  a connection that sends nothing after an answer, but nothing bounds one that
  never finishes its headers (slowloris) or never starts a first request.

Both are below ASGI: no app can see a request before its head is complete.  A
request's body is bounded by :mod:`shared.web.limits`.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER_SECONDS = 2.0
"""How long a refused connection's further bytes are read and dropped after the
answer, so a client still sending reads the answer instead of a reset."""


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head past its limit."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's
    head; :func:`bounded_http_protocol` makes one with the limits set."""

    max_head_bytes: int
    head_timeout: float

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_too_large = False
        self._refused = False
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: dropped while lingering
        awaiting = self._head_timer is not None
        if awaiting:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no complete head: what came so far is all head, and httptools
        # holds a header until it ends, however long; stop it here.
        if awaiting and self._head_timer is not None and self._head_bytes > self.max_head_bytes:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already has its head; otherwise the next one starts now.
        if not self.pipeline and not self.transport.is_closing():
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        else:
            super().send_400_response(msg)

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.max_head_bytes:
            self._head_too_large = True
            raise _HeadTooLarge  # httptools stops; uvicorn then calls send_400_response

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT)
        else:
            self.transport.close()

    def _refuse(self, status: HTTPStatus) -> None:
        """Answer ``status`` as problem+json and close: the rest of the request is not read."""
        self._stop_head_timer()
        if self._refused or self.transport.is_closing():
            return
        detail = {
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
                f"the request line and headers exceed {self.max_head_bytes} bytes"
            ),
            HTTPStatus.REQUEST_TIMEOUT: (
                f"the request line and headers took longer than {self.head_timeout:g} s"
            ),
        }[status]
        body = json.dumps(
            {
                "type": "about:blank",
                "title": status.phrase,
                "status": status.value,
                "detail": detail,
            }
        ).encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        # Closing now, with the client's bytes unread, would reset the connection
        # and could lose the answer: end our side, drop what still comes, close later.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def bounded_http_protocol(*, max_head_bytes: int, head_timeout: float) -> type[BoundedHttpProtocol]:
    """The protocol class uvicorn is given (``Config(http=...)``), with its limits."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout},
    )
