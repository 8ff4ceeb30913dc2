"""The shape of OMS's pure ASGI middlewares: HTTP requests handled, the rest passed on."""

from __future__ import annotations

from abc import ABC, abstractmethod

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware(ABC):
    """A pure ASGI middleware that sees HTTP requests only: lifespan and other
    scopes go straight to the app.  A subclass says what it does in :meth:`handle`,
    with the wrapped app as ``self.app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (``scope["type"]`` is ``"http"``)."""
