"""Account rules that need no I/O: how emails compare, what a password and a
country must be."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from services.users.countries import COUNTRY_CODES

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
"""Long enough for any passphrase, short enough that hashing cannot be abused."""


def normalize_email(email: str) -> str | None:
    """The canonical form of ``email`` (as stored), or None if it is not an address."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def email_key(email: str) -> str | None:
    """What makes two emails the same account: the normalized address, case-folded.

    Mail providers treat the local part case-insensitively in practice, so
    ``Ada@Example.com`` and ``ada@example.com`` are one account."""
    normalized = normalize_email(email)
    return normalized.casefold() if normalized is not None else None


def country_code(value: str) -> str:
    """An ISO 3166-1 alpha-2 code in upper case, or ValueError."""
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code
