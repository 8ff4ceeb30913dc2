"""``oms up`` and ``oms run`` serve their components on uvloop when it is installed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import uvloop

from oms.serving import run_components
from shared.settings import Settings


def test_components_are_served_on_the_uvloop_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith("OMS_")]:
        monkeypatch.delenv(variable)  # embedded: nothing to connect to
    loops: list[asyncio.AbstractEventLoop] = []

    async def started() -> None:
        loops.append(asyncio.get_running_loop())

    run_components([], Settings(data_dir=tmp_path), on_started=started)

    assert len(loops) == 1
    assert isinstance(loops[0], uvloop.Loop)
