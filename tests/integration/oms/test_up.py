"""``oms up --seed demo`` brings up every component, the four domain services with
their fixed HTTP contracts, the card provider with its own data, and a demo
catalogue and shopper who can check out.

The real command in a real process (embedded mode, a throw-away data directory,
every port shifted by a free offset), asked over real sockets what it serves.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from oms.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_PRODUCTS
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


def demo_skus(inventory: str) -> set[str]:
    page = httpx.get(f"{inventory}/api/v1/products", params={"limit": 200}, timeout=10).json()
    return {p["sku"] for p in page["items"]}


def test_oms_up_serves_every_component_with_the_documented_paths_and_demo_data(
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
    others = [
        f"http://127.0.0.1:{PORTS[name] + offset}"
        for name in ("saga", "bff-web", "bff-mobile", "card-provider")
    ]
    up = Process(["up", "--seed", "demo"], env, tmp_path / "up.log").start()
    try:
        wait_ready([*urls.values(), *others], up)
        for name, url in urls.items():
            openapi = httpx.get(f"{url}/openapi.json", timeout=10)
            docs = httpx.get(f"{url}/docs", timeout=10)

            assert openapi.status_code == 200, name
            assert openapi.json()["info"]["title"] == f"OMS {name}"
            missing = DOMAIN_PATHS[name] - operations(openapi.json())
            assert not missing, f"{name} lacks {sorted(missing)}"
            assert docs.status_code == 200, name
            assert "text/html" in docs.headers["content-type"]
        for name in [*DOMAIN_PATHS, "card-provider"]:
            assert (tmp_path / "data" / f"{name}.db").exists(), name

        # The demo data is seeded once every component answers.
        wanted = {sku for sku, *_ in DEMO_PRODUCTS}
        deadline = time.monotonic() + 30
        while not wanted <= demo_skus(urls["inventory"]):
            assert time.monotonic() < deadline, f"demo products never appeared:\n{up.tail()}"
            time.sleep(0.1)
        login = httpx.post(
            f"{others[1]}/api/v1/auth/login",
            json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        assert login.json()["token"]
        profile = httpx.get(
            f"{urls['users']}/api/v1/users/{login.json()['userId']}",
            headers={"Authorization": f"Bearer {login.json()['token']}"},
            timeout=10,
        ).json()
        assert (profile["firstName"], profile["lastName"]) == ("Demo", "Shopper")
        catalogue = httpx.get(
            f"{others[1]}/api/v1/products", params={"limit": 200}, timeout=10
        ).json()
        described = {p["sku"]: p["description"] for p in catalogue["items"]}
        assert described == {sku: description for sku, _, description, *_ in DEMO_PRODUCTS}

        # A checkout is charged at the card provider, which runs here too.
        product = next(p for p in catalogue["items"] if p["available"] > 0)
        checkout = httpx.post(
            f"{others[1]}/api/v1/checkout",
            params={"wait": 20},
            json={
                "items": [{"productId": product["id"], "quantity": 1}],
                "shippingAddress": {
                    "line1": "1 Analytical Row",
                    "city": "London",
                    "postalCode": "N1 9GU",
                    "country": "GB",
                },
                "paymentMethodId": "pm_card_ok",
            },
            headers={"Authorization": f"Bearer {login.json()['token']}"},
            timeout=30,
        )
        assert checkout.status_code == 200, checkout.text
        assert checkout.json()["status"] == "confirmed", checkout.text
        balance = httpx.get(f"{others[3]}/api/v1/balance", timeout=10).json()
        assert balance == {"captured": product["price"], "refunded": 0, "net": product["price"]}
    finally:
        up.stop()
    assert up.proc is not None
    assert up.proc.returncode == 0, up.tail()  # SIGTERM stops every component cleanly
