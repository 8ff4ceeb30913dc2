"""Account rules that need no I/O: how emails compare, how a name splits, what a
password and a country must be."""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import confusables
from email_validator import EmailNotValidError, validate_email

from services.users.countries import COUNTRY_CODES

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
"""Long enough for any passphrase, short enough that hashing cannot be abused."""


def normalize_email(email: str) -> str | None:
    """The canonical form of ``email`` (as stored), or None if it is not an address.

    Validated (the domain lower-cased), then in Unicode compatibility form (NFKC):
    ``ada@example.com`` typed with a fullwidth a (U+FF41) is ``ada@example.com``."""
    try:
        validated = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    return unicodedata.normalize("NFKC", validated)


def email_key(email: str) -> str | None:
    """What makes two emails the same account: the normalized address, case-folded
    (NFKC, case-folded, NFKC again, so the key is stable).

    Mail providers treat the local part case-insensitively in practice, so
    ``Ada@Example.com`` and ``ada@example.com`` are one account, and so are
    ``straße@`` and ``strasse@`` (case folding writes ß as ss), and ``ada@`` typed
    in fullwidth letters and ``ada@``."""
    normalized = normalize_email(email)
    if normalized is None:
        return None
    return unicodedata.normalize("NFKC", normalized.casefold())


def lookalike(email: str) -> str | None:
    """Why ``email`` could pass for another address, or None.

    Each part (the local part, each domain label) that is not plain ASCII must be
    in one script, and not made only of letters that look like Latin ones: a
    Cyrillic a (U+0430) among Latin letters (``ada@`` with it), or ``scape@``
    spelled wholly in Cyrillic look-alikes, would be a second account that reads
    as the first.  Letters of other scripts are welcome (``josé@``, and Cyrillic
    words with letters no Latin one resembles)."""
    normalized = normalize_email(email)
    if normalized is None:
        return None
    local, _, domain = normalized.rpartition("@")
    for part in (local, *domain.split(".")):
        if part.isascii():
            continue
        if confusables.is_mixed_script(part):
            return f"{part!r} mixes letters of different scripts"
        found = confusables.is_confusable(part, greedy=True, preferred_aliases=["latin"]) or []
        lookalikes = {f["character"] for f in found}
        letters = {c for c in part if c.isalpha()}
        if letters and letters <= lookalikes:
            return f"{part!r} is written in letters that look like Latin ones"
    return None


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
