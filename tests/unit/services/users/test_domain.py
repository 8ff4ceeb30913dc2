"""The account rules: when two emails are one account, countries, and names."""

from __future__ import annotations

import pytest

from services.users.domain import (
    country_code,
    email_key,
    full_name,
    lookalike,
    normalize_email,
    split_name,
)


def test_an_email_is_stored_with_its_domain_lower_cased() -> None:
    assert normalize_email("  Ada@Example.COM ") == "Ada@example.com"


@pytest.mark.parametrize("text", ["", "ada", "ada@", "@example.com", "a b@example.com"])
def test_text_that_is_no_address_has_no_normal_form(text: str) -> None:
    assert normalize_email(text) is None
    assert email_key(text) is None


def test_two_spellings_of_one_address_are_one_account() -> None:
    assert email_key("Ada@Example.com") == email_key("ada@example.COM") == "ada@example.com"


def test_compatibility_forms_and_case_folding_make_one_account() -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "ada")
    assert email_key(f"{fullwidth}@example.com") == "ada@example.com"
    assert normalize_email(f"{fullwidth}@example.com") == "ada@example.com"
    assert email_key("Stra\u00dfe@example.com") == email_key("strasse@example.com")


@pytest.mark.parametrize(
    "email",
    [
        "\u0430da@example.com",  # a Cyrillic a among Latin letters
        "ada@ex\u0430mple.com",
        "\u0455\u0441\u0430\u0440\u0435@example.com",  # "scape" in Cyrillic look-alikes
    ],
)
def test_an_address_that_could_pass_for_another_is_a_lookalike(email: str) -> None:
    assert lookalike(email) is not None


@pytest.mark.parametrize(
    "email", ["ada@example.com", "jos\u00e9@example.com", "\u0441\u0430\u0448\u0430@example.com"]
)
def test_addresses_in_one_script_are_no_lookalikes(email: str) -> None:
    assert lookalike(email) is None


def test_different_addresses_are_different_accounts() -> None:
    assert email_key("ada@example.com") != email_key("ada2@example.com")


def test_a_country_is_an_iso_code_in_upper_case() -> None:
    assert country_code(" gb ") == "GB"


@pytest.mark.parametrize("value", ["UK", "XX", "GBR", ""])
def test_anything_but_an_iso_alpha_2_code_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1"):
        country_code(value)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Ada King Lovelace", ("Ada", "King Lovelace")),
        ("  Ada   Lovelace ", ("Ada", "Lovelace")),
        ("Ada", ("Ada", None)),
        ("   ", (None, None)),
    ],
)
def test_a_single_name_splits_at_its_first_space(
    name: str, parts: tuple[str | None, str | None]
) -> None:
    assert split_name(name) == parts


def test_a_split_name_joins_back_to_the_name() -> None:
    assert full_name(*split_name("Ada King Lovelace")) == "Ada King Lovelace"


def test_a_name_shows_whatever_is_known_and_none_when_nothing_is() -> None:
    assert full_name("Ada", None) == "Ada"
    assert full_name(None, "Lovelace") == "Lovelace"
    assert full_name(None, None) is None
