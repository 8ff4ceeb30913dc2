"""Several broker nodes behind one setting: choosing the node a connection uses.

``OMS_BROKER_URL`` (and each ``OMS_<COMPONENT>_BROKER_URL``) may list the nodes of
a RabbitMQ cluster, comma-separated.  A connection opens on the first node that
answers; when that node goes away, aio-pika's robust connection reconnects, and
each attempt goes to the next node of the list, round and round, until one
answers.  Its channels are then restored there: the exchanges and queues declared
again (passively) and the consumers started again, so nothing restarts.  What was
in flight on the lost node is settled by the queues' leaders: an unacked delivery
is delivered again (the consumers' inboxes make that a no-op), an unconfirmed
publish is a :class:`~shared.messaging.transport.PublishError` the caller retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aio_pika import RobustConnection
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from shared.logging import get_logger

log = get_logger(__name__)

QUORUM_REPLICAS = 3
"""Replicas of each quorum queue once the cluster has that many nodes: a majority
(two) survives the loss of any one node."""


def split_urls(value: str) -> list[str]:
    """The node URLs of a setting: comma-separated, blanks around them ignored."""
    urls = [part.strip() for part in value.split(",")]
    return [url for url in urls if url]


def first_url(value: str) -> str:
    """The first node of a setting: the one whose user, password and vhost are read
    for all (every node of a cluster shares its users and vhosts)."""
    urls = split_urls(value)
    return urls[0] if urls else value


def quorum_replicas(value: str | None) -> int | None:
    """How many replicas a quorum queue gets on the nodes ``value`` lists: three
    when it lists three or more, else the broker's default (``None``)."""
    if not value:
        return None
    return QUORUM_REPLICAS if len(split_urls(value)) >= QUORUM_REPLICAS else None


def _redact_one(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    where = f":{port}" if port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}{where}"))


def redact_urls(value: str) -> str:
    """``value`` (one URL or several, comma-separated) with every password replaced by ``***``."""
    urls = split_urls(value)
    if not urls:
        return value
    return ",".join(_redact_one(url) for url in urls)


class NodeChoosingConnection(RobustConnection):
    """A robust connection that moves to the next node of its list on every
    reconnection attempt (aio-pika's own reconnects to the one URL it was given).

    Each attempt begins by dropping the old transport (``self.transport = None``):
    that is the moment the next node is chosen.  The first connection is made by
    :func:`connect_to_first_answering`, which tries the nodes in order."""

    def __init__(self, url: URL, *, nodes: Sequence[str], start: int = 0, **kwargs: Any) -> None:
        self._nodes = [URL(node) for node in nodes]
        self._node = start
        self._made = False
        super().__init__(url=self._nodes[start], **kwargs)

    @property
    def url(self) -> URL:
        return self._nodes[self._node]

    @url.setter
    def url(self, value: URL) -> None:
        # Only aio-pika's update_secret sets it again: the secret is every node's.
        self._nodes = [node.with_password(value.password) for node in self._nodes]

    @property
    def transport(self) -> Any:
        return self.__dict__.get("_transport")

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and self._made and not self._close_called and len(self._nodes) > 1:
            self._node = (self._node + 1) % len(self._nodes)
            log.info("broker.next_node", node=redact_urls(str(self.url)))
        self.__dict__["_transport"] = value

    async def _on_connected(self) -> None:
        await super()._on_connected()
        self._made = True

    @property
    def node(self) -> str:
        """The node connected to (or tried next), its password masked."""
        return redact_urls(str(self.url))

    def __str__(self) -> str:
        return self.node


async def connect_to_first_answering(value: str, **kwargs: Any) -> AbstractRobustConnection:
    """A robust connection on the first node of ``value`` that answers.

    Raises the last node's error when none does (it names no password).
    """
    nodes = split_urls(value)
    if not nodes:
        raise ValueError("no broker URL given")
    timeout = kwargs.pop("timeout", None)
    last: BaseException | None = None
    for start in range(len(nodes)):
        connection = NodeChoosingConnection(URL(nodes[start]), nodes=nodes, start=start, **kwargs)
        try:
            await connection.connect(timeout=timeout)
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as error:
            last = error
            await connection.close()
            continue
        if start:
            log.info("broker.connected", node=connection.node, skipped=start)
        return connection
    assert last is not None
    raise last
