"""``oms up`` brings up the four domain services with their fixed HTTP contracts.

The real command in a real process (embedded mode, a throw-away data directory,
every port shifted by a free offset), asked over real sockets what it serves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import PORTS
from tests.support.processes import Process, free_port_offset, process_env, wait_ready

pytestmark = pytest.mark.slow

DOMAIN_PATHS: dict[str, set[tuple[str, str]]] = {
    "inventory": {
        ("GET", "/products"),
        ("POST", "/products"),
        ("GET", "/products/{}"),
        ("PUT", "/products/{}/stock"),
    },
    "users": {
        ("POST", "/users/register"),
        ("POST", "/users/login"),
        ("GET", "/users/{}"),
        ("GET", "/users/{}/addresses"),
        ("POST", "/users/{}/addresses"),
        ("GET", "/users/{}/addresses/{}"),
    },
    "payments": {
        ("GET", "/payments"),
        ("GET", "/users/{}/payment-methods"),
        ("POST", "/users/{}/payment-methods"),
        ("GET", "/payment-methods/{}"),
    },
    "orders": {
        ("POST", "/orders"),
        ("GET", "/orders/{}"),
        ("GET", "/orders"),
        ("POST", "/orders/{}/cancel"),
    },
}
"""The domain services' fixed paths (under ``/api/v1``), path parameters as ``{}``."""


def operations(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every operation, without the prefix and parameter names."""
    found: set[tuple[str, str]] = set()
    for path, methods in openapi["paths"].items():
        plain = re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1"))
        found |= {(method.upper(), plain) for method in methods}
    return found


def test_oms_up_serves_the_four_domain_services_with_their_documented_paths(
    tmp_path: Path,
) -> None:
    offset = free_port_offset(list(PORTS.values()))
    urls = {name: f"http://127.0.0.1:{PORTS[name] + offset}" for name in DOMAIN_PATHS}
    env = process_env(
        {
            "OMS_PORT_OFFSET": str(offset),
            "OMS_DATA_DIR": str(tmp_path / "data"),
            "OMS_LOG_FORMAT": "json",
            "OMS_LOG_LEVEL": "WARNING",
        }
    )
    up = Process(["up"], env, tmp_path / "up.log").start()
    try:
        wait_ready(list(urls.values()), up)
        for name, url in urls.items():
            openapi = httpx.get(f"{url}/openapi.json", timeout=10)
            docs = httpx.get(f"{url}/docs", timeout=10)

            assert openapi.status_code == 200, name
            assert openapi.json()["info"]["title"] == f"OMS {name}"
            missing = DOMAIN_PATHS[name] - operations(openapi.json())
            assert not missing, f"{name} lacks {sorted(missing)}"
            assert docs.status_code == 200, name
            assert "text/html" in docs.headers["content-type"]
        for name in DOMAIN_PATHS:
            assert (tmp_path / "data" / f"{name}.db").exists(), name
    finally:
        up.stop()
    assert up.proc is not None
    assert up.proc.returncode == 0, up.tail()  # SIGTERM stops every component cleanly
