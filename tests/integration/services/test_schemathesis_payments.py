"""Property test: whatever schemathesis sends the payments API, no 500 and no answer
that contradicts its OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.payments.app import build_app
from shared.auth import mint_token
from tests.support.embedded import embedded_app, embedded_settings, fuzz_api


def test_payments_api_honours_its_schema_and_never_fails(
    tmp_path: Path, subtests: pytest.Subtests
) -> None:
    config = embedded_settings(tmp_path)
    ops = mint_token(config.jwt_key, sub="ops-user", roles=["ops"])
    fuzz_api(embedded_app(build_app, config), subtests, headers={"Authorization": f"Bearer {ops}"})
