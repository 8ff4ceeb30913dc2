"""``oms topology apply``: the topology, the components' broker users and their
permissions, made on RabbitMQ through its management API.

Idempotent: the vhost, exchanges, queues, bindings and policies are imported as
``oms topology export`` writes them; each component's user (see
``shared.messaging.topology.BROKER_USERS``) is created or updated with the password
of its ``OMS_<COMPONENT>_BROKER_URL``, which names the user too, and given its
permissions in the vhost.  Passwords come from the environment only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx

from shared.messaging.topology import BROKER_USERS, Topology, component_of, export_definitions
from shared.settings import Settings


class TopologyError(Exception):
    """What ``oms topology apply`` needs is missing or wrong (one line for the operator)."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def credentials_from(url: str) -> Credentials:
    """The user and password a broker URL connects with."""
    parts = urlsplit(url)
    if not parts.username or parts.password is None:
        raise TopologyError(
            f"{parts.scheme}://…@{parts.hostname}: the URL names no user and password"
        )
    return Credentials(unquote(parts.username), unquote(parts.password))


def vhost_of(url: str) -> str:
    """The vhost a broker URL names (``/`` when it names none)."""
    return unquote(urlsplit(url).path.lstrip("/")) or "/"


def component_credentials(settings: Settings) -> dict[str, Credentials]:
    """Each component's user and password, from its ``OMS_<COMPONENT>_BROKER_URL``."""
    found: dict[str, Credentials] = {}
    for component in BROKER_USERS:
        url = settings.own_broker_url(component)
        variable = f"OMS_{component.upper()}_BROKER_URL"
        if url is None:
            raise TopologyError(f"{variable} is not set: it names {component}'s user and password")
        credentials = credentials_from(url)
        if component_of(credentials.user) != component:
            raise TopologyError(
                f"{variable} names user {credentials.user!r}: a component's user is its "
                f"name, optionally followed by '.' and a suffix ({component}.staging)"
            )
        found[component] = credentials
    return found


def apply_topology(
    api: httpx.Client,
    *,
    vhost: str,
    topology: Topology,
    users: Mapping[str, Credentials],
    make_users: bool = True,
) -> list[str]:
    """Make ``topology`` in ``vhost`` and every component's user with its permissions
    there; returns the users made.  ``api`` speaks to the management API as an
    administrator.  ``make_users=False``: the users exist already (made for another
    vhost); they are only given their permissions in this one."""
    path = quote(vhost, safe="")
    api.put(f"/api/vhosts/{path}").raise_for_status()
    document = export_definitions(topology, vhost=vhost)
    shape = {key: document[key] for key in ("exchanges", "queues", "bindings", "policies")}
    api.post(f"/api/definitions/{path}", json=shape).raise_for_status()
    made = []
    for component, rights in BROKER_USERS.items():
        credentials = users[component]
        user = quote(credentials.user, safe="")
        if make_users:
            api.put(
                f"/api/users/{user}", json={"password": credentials.password, "tags": ""}
            ).raise_for_status()
        api.put(
            f"/api/permissions/{path}/{user}",
            json={"configure": rights.configure, "write": rights.write, "read": rights.read},
        ).raise_for_status()
        made.append(credentials.user)
    return made
