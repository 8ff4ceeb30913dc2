"""Start-up failures told in one line: what failed, and where.

A component that cannot start (its database refuses, the broker is down, its
port is taken) raises :class:`StartupFailed`; the ``oms`` command prints its
message, and the traceback only when asked (``oms --debug``).  Addresses are
shown without their passwords.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from shared.messaging.nodes import redact_urls


class StartupFailed(Exception):
    """``component`` could not ``action`` (at ``where``) because of ``cause``."""

    def __init__(self, component: str, action: str, where: str, cause: BaseException) -> None:
        place = f" {where}" if where else ""
        super().__init__(f"{component}: cannot {action}{place}: {describe(cause)}")
        self.component = component
        self.where = where
        self.cause = cause


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (SQLAlchemy's and aio-pika's style);
    every one of them when it lists several nodes, comma-separated."""
    return redact_urls(url)


def describe(error: BaseException) -> str:
    """The root cause of ``error`` on one line: its type and first line of message."""
    root = error
    seen = {id(root)}
    while (cause := root.__cause__ or root.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        root = cause
    message = next(iter(str(root).strip().splitlines()), "")
    return f"{type(root).__name__}: {message}" if message else type(root).__name__


@contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Silence ``logger_name`` below CRITICAL for the block: a library that logs the
    error it is about to raise would tell a start-up failure twice."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
