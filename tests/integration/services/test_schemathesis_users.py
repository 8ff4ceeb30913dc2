"""Property test: whatever schemathesis sends the users API, no 500 and no answer
that contradicts its OpenAPI document."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.users.app import build_app
from shared.auth import mint_token
from tests.integration.services.users.conftest import CHEAP_HASHER
from tests.support.embedded import embedded_app, embedded_settings, fuzz_api


def test_users_api_honours_its_schema_and_never_fails(
    tmp_path: Path, subtests: pytest.Subtests
) -> None:
    config = embedded_settings(tmp_path)
    ops = mint_token(config.jwt_key, sub="ops-user", roles=["ops"])
    app = embedded_app(partial(build_app, hasher=CHEAP_HASHER), config)
    fuzz_api(
        app,
        subtests,
        headers={"Authorization": f"Bearer {ops}"},
        # The `email` format admits reserved domains (RFC 6761: `.test`, `.invalid`),
        # which registration rightly refuses: no mail could ever reach them.
        relaxed={"POST /api/v1/users/register": [positive_data_acceptance]},
    )
