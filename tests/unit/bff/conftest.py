"""A BFF app in-process (``build_web`` or ``build_mobile``) against respx-played services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff import SERVICES
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.transport import Transport
from shared.settings import Settings
from tests.support.stack import TEST_JWT_SECRET, serve
from tests.unit.bff.fakes import AppBuilder, FakeServices, StartBff


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def start_bff(services: FakeServices, tmp_path: Path) -> AsyncIterator[StartBff]:
    """Start a BFF app (``build_web`` or ``build_mobile``) against ``services``."""
    async with AsyncExitStack() as running:

        async def start(build: AppBuilder, **overrides: Any) -> httpx.AsyncClient:
            fields: dict[str, Any] = {
                "data_dir": tmp_path,
                "jwt_secret": TEST_JWT_SECRET,
                **{f"{name}_url": f"http://{name}.test" for name in SERVICES},
                **overrides,
            }
            settings = Settings(**fields)
            transport: Transport = InProcessTransport()
            await transport.connect()
            running.push_async_callback(transport.close)
            app = build(settings, transport, http_transports=services.transports())
            return await running.enter_async_context(serve(app))

        yield start
