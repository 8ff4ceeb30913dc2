"""The root of every service's domain errors.

Each service draws its own tree under :class:`DomainError` in its ``errors.py``
(they know nothing of HTTP or messaging: the edges turn them into problem answers
and dead letters).
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A request or command that cannot be carried out as asked.

    An error whose words never vary says them once, as ``message``; one that names
    what was asked passes its own words to ``__init__``.
    """

    message: ClassVar[str] = ""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.message if message is None else message)
