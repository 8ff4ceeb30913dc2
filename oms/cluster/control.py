"""Bringing a whole local cluster up and down (what ``oms cluster`` runs)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from oms.cluster import fleet, postgres, rabbit
from oms.cluster.layout import STATE, Layout, reachable, reap, remove
from shared.logging import get_logger

log = get_logger(__name__)


def up(root: Path, *, base: int | None = None, component_offset: int | None = None) -> Layout:
    """The broker cluster, the database pair, then the components; what it started
    is written to ``root/cluster.json`` as it goes, so :func:`down` stops it all even
    after a failed start."""
    if (root / STATE).exists():
        raise RuntimeError(f"a cluster already lives in {root}: oms cluster down --dir {root}")
    root.mkdir(parents=True, exist_ok=True)
    reachable(root)
    layout = Layout(root=root)
    if base is not None:
        layout.base = base
    if component_offset is not None:
        layout.component_offset = component_offset
    layout.save()
    try:
        # The broker nodes boot while the database pair is made and migrated: each
        # mostly waits on processes of its own.
        with ThreadPoolExecutor(max_workers=1) as beside:
            broker = beside.submit(_timed, "broker", rabbit.up, layout)
            _timed("database", postgres.up, layout)
            _timed("schemas", fleet.migrate, layout)
            broker.result()
        layout.save()
        _timed("components", fleet.up, layout)
    finally:
        layout.save()
    return layout


def _timed(tier: str, start: Callable[[Layout], None], layout: Layout) -> None:
    began = time.monotonic()
    start(layout)
    log.info("cluster.tier_up", tier=tier, seconds=round(time.monotonic() - began, 1))


def down(root: Path) -> None:
    """Stop every process of the cluster in ``root`` and remove its directory."""
    if not (root / STATE).exists():
        remove(root)
        return
    layout = Layout.load(root)
    # Everything goes with its data, so nothing is asked to stop cleanly: the
    # components, HAProxy and the broker nodes are killed with all they started.
    for pid in layout.pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for pid in strays(root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    postgres.down(layout)
    _await_gone(layout)
    reap()
    remove(root)


def strays(root: Path) -> list[int]:
    """Processes started for the cluster in ``root`` that its state file may not name
    (a broker node or replica started again by another process): those whose
    environment points into ``root``."""
    marker = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(marker in variable for variable in environment.split(b"\0")):
            found.append(int(entry.name))
    return found


def _await_gone(layout: Layout, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for role in ("primary", "standby"):
        while postgres.postmaster_pid(layout, role) is not None and time.monotonic() < deadline:
            pid = postgres.postmaster_pid(layout, role)
            try:
                os.kill(pid or 0, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
