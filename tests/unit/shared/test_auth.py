"""Bearer tokens: a token verified once is still refused when it expires or is tampered with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.auth import InvalidToken, mint_token, verify_token

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_token_accepted_before_is_refused_once_it_has_expired() -> None:
    token = mint_token(SECRET, sub="alice", ttl_seconds=60)
    assert verify_token(SECRET, token).sub == "alice"

    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, token, now=datetime.now(UTC) + timedelta(seconds=61))


def test_a_token_accepted_under_one_secret_is_refused_under_another() -> None:
    token = mint_token(SECRET, sub="alice")
    assert verify_token(SECRET, token).sub == "alice"

    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(SECRET + "-rotated", token)


def test_a_tampered_copy_of_an_accepted_token_is_refused() -> None:
    token = mint_token(SECRET, sub="alice", roles=["customer"])
    assert not verify_token(SECRET, token).is_ops
    header, _claims, signature = token.split(".")
    ops_claims = mint_token(SECRET, sub="alice", roles=["ops"]).split(".")[1]
    forged = f"{header}.{ops_claims}.{signature}"

    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(SECRET, forged)
