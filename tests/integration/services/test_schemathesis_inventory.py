"""Property test: whatever schemathesis sends the inventory API, no 500 and no
answer that contradicts its OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.inventory.app import build_app
from shared.auth import mint_token
from tests.support.embedded import embedded_app, embedded_settings, fuzz_api


def test_inventory_api_honours_its_schema_and_never_fails(
    tmp_path: Path, subtests: pytest.Subtests
) -> None:
    config = embedded_settings(tmp_path, faults_enabled=True)
    ops = mint_token(config.jwt_key, sub="ops-user", roles=["ops"])
    fuzz_api(embedded_app(build_app, config), subtests, headers={"Authorization": f"Bearer {ops}"})
