"""Account rules that need no I/O: how emails compare, how a name splits, what a
password and a country must be."""

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


def split_name(name: str) -> tuple[str | None, str | None]:
    """A single name as ``(first name, last name)``: split at the first run of whitespace.

    The first word is the first name and the rest the last name
    (``"Ada King Lovelace"`` → ``("Ada", "King Lovelace")``); a one-word name has
    no last name.  No rule is right for every culture; this one keeps every word
    and gives the name back when the two are joined with a space (see
    :func:`full_name`).  Registrations still sending ``name`` and accounts made
    before first and last names were asked for are split this way.
    """
    parts = name.strip().split(maxsplit=1)
    if not parts:
        return None, None
    return parts[0], parts[1] if len(parts) > 1 else None


def full_name(first_name: str | None, last_name: str | None) -> str | None:
    """The name to show: first and last name joined by a space, None if both are unknown."""
    return " ".join(part for part in (first_name, last_name) if part) or None
