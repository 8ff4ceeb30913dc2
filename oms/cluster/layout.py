"""Where a local cluster lives: its directory, its ports, the state ``down`` reads.

Every port is derived from one base, so two clusters (two test runs) on one
machine differ by their base and their directory only.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.settings import PORTS

NODES = ("c1", "c2", "c3")
REPLICAS = 2
VHOST = "oms"
DATABASE = "oms"
STATE = "cluster.json"
DEFAULT_BASE = 5700


@dataclass
class Layout:
    """A cluster's directory and ports (``base`` .. ``base + 99``, and the component
    ports above ``component_offset``)."""

    root: Path
    base: int = DEFAULT_BASE
    component_offset: int = 20000
    pids: dict[str, int] = field(default_factory=dict)
    """Every process ``up`` started (by name), for ``down``."""

    def amqp_port(self, node: str) -> int:
        return self.base + 1 + NODES.index(node)

    def management_port(self, node: str) -> int:
        return self.base + 11 + NODES.index(node)

    def distribution_port(self, node: str) -> int:
        return self.base + 21 + NODES.index(node)

    @property
    def primary_port(self) -> int:
        return self.base + 31

    @property
    def standby_port(self) -> int:
        return self.base + 32

    def node_name(self, node: str) -> str:
        """``c1@localhost`` …; another cluster beside it (another base) suffixes its base."""
        suffix = "" if self.base == DEFAULT_BASE else f"-{self.base}"
        return f"{node}{suffix}@localhost"

    def node_dir(self, node: str) -> Path:
        return self.root / "rabbitmq" / node

    def amqp_url(self, node: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port(node)}/{VHOST}"

    def broker_url(self, nodes: Sequence[str] = NODES) -> str:
        """Every node, comma-separated: what ``OMS_BROKER_URL`` is set to."""
        return ",".join(self.amqp_url(node) for node in nodes)

    def database_url(self) -> str:
        """Primary and standby; asyncpg connects to whichever takes writes."""
        hosts = f"127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}"
        return f"postgresql+asyncpg://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"

    def public_offset(self) -> int:
        """HAProxy answers for each component at its port plus this offset."""
        return self.component_offset

    def replica_offset(self, replica: int) -> int:
        """Replica ``replica`` (1, 2) of each component answers at its port plus this."""
        return self.component_offset + 100 * replica

    def public_url(self, component: str) -> str:
        return f"http://127.0.0.1:{PORTS[component] + self.public_offset()}"

    def save(self) -> None:
        state = {**asdict(self), "root": str(self.root)}
        (self.root / STATE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> Layout:
        state = json.loads((root / STATE).read_text())
        return cls(
            root=Path(state["root"]),
            base=state["base"],
            component_offset=state["component_offset"],
            pids=state["pids"],
        )


_CHILDREN: list[subprocess.Popen[bytes]] = []
"""The servers this process started: held so that none is collected (and warned
about) while it runs on its own; :func:`spawn` adds to it."""


def spawn(
    argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start ``argv`` in a session of its own (so it and all it starts can be signalled
    together), its output appended to ``log``; its process id."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(process)
    return process.pid


def reap() -> None:
    """Collect the exit status of every server this process started that has ended."""
    for process in list(_CHILDREN):
        if process.poll() is not None:
            _CHILDREN.remove(process)


def as_user(user: str, argv: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
    """``argv`` run as ``user`` (``runuser -u``) with ``env`` set: the servers refuse root."""
    settings = [f"{key}={value}" for key, value in (env or {}).items()]
    return ["runuser", "-u", user, "--", "env", *settings, *argv]


def run(argv: Sequence[str], *, timeout: float = 120, check: bool = True) -> str:
    """Run a command to its end; its output, or an error saying what it printed."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}… exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def owned_dir(path: Path, user: str) -> Path:
    """``path`` made (with its parents) and given to ``user``."""
    path.mkdir(parents=True, exist_ok=True)
    account = pwd.getpwnam(user)
    os.chown(path, account.pw_uid, account.pw_gid)
    return path


def reachable(root: Path) -> None:
    """Let the server accounts walk down to ``root`` (a private temporary directory would not)."""
    for parent in [root, *root.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        os.chmod(parent, mode | 0o011)


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
