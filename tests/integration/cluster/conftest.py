"""One local cluster for every fault test of the module, on ports and in a
directory no other run uses."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from oms.cluster import control
from oms.cluster.layout import Layout
from shared.settings import PORTS
from tests.support.infra import unavailable


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base() -> int:
    """A base whose cluster ports (base+1 .. base+32, and the distribution ports) are free."""
    for base in random.sample(range(6000, 9000, 50), 60):
        if all(_free(base + n) for n in range(1, 33)):
            return base
    raise AssertionError("no free block of ports for a cluster")


def _free_component_offset() -> int:
    """An offset whose components' ports (HAProxy's and both replicas') are free, all
    below Linux's ephemeral ports (32768 and up), which outgoing connections take."""
    for offset in random.sample(range(8000, 17000, 400), 20):
        ports = [port + offset + shift for port in PORTS.values() for shift in (0, 100, 200)]
        if all(_free(port) for port in ports):
            return offset
    raise AssertionError("no free block of ports for the components")


@pytest.fixture(scope="package")
def cluster() -> Iterator[Layout]:
    missing = [
        tool
        for tool in ("rabbitmq-server", "rabbitmqctl", "haproxy", "runuser")
        if shutil.which(tool) is None
    ]
    if os.geteuid() != 0 or missing:
        unavailable("a local cluster", RuntimeError(f"needs root and {missing or 'nothing'}"))
    # Not under pytest's temporary directory: every pytest run makes that private
    # again, and the servers' users must reach their data.
    root = Path(tempfile.mkdtemp(prefix="oms-cluster-"))
    try:
        layout = control.up(root, base=_free_base(), component_offset=_free_component_offset())
    except Exception:
        control.down(root)
        raise
    try:
        yield layout
    finally:
        control.down(root)
