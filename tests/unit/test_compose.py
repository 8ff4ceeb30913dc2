"""compose.yaml stays valid against the Compose specification's JSON schema
(``tests/data/compose-spec.json``, the spec's draft 2019-09 schema), and ships no
JWT secret a real deployment would start with.  Its ``cluster`` profile runs three
broker nodes, a database standby, HAProxy and a second replica of every component,
switched on by ``OMS_CLUSTER`` while the default stack stays what it was; the
scripts its containers start with are run here with the images' programs faked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from oms.components import COMPONENTS as KNOWN
from shared.messaging.nodes import split_urls
from shared.settings import PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = set(KNOWN)
"""What compose must run: every component the command knows."""
BROKER_USERS = ("orders", "inventory", "users", "payments", "saga")
BROKER_PASSWORDS = {
    f"OMS_{name}_PASSWORD": f"password-of-{name.lower()}"
    for name in ("BROKER_ADMIN", *(f"{user.upper()}_BROKER" for user in BROKER_USERS))
}
"""What a deployment exports beside its JWT secret: the broker's passwords."""


def validator() -> jsonschema.Draft201909Validator:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    return jsonschema.Draft201909Validator(schema)


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_file_validates_against_the_compose_spec() -> None:
    document = compose()
    validator().validate(document)
    assert set(document["services"]) >= COMPONENTS
    for name in COMPONENTS:
        assert document["services"][name]["command"] == ["run", name]
    payments = document["services"]["payments"]["depends_on"]
    assert payments["card-provider"] == {"condition": "service_started"}
    assert payments["migrate"] == {"condition": "service_completed_successfully"}


def test_compose_file_with_a_mistake_is_rejected() -> None:
    document = compose()
    document["services"]["orders"]["ports"] = "3001:3001"  # must be a list
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'array'"):
        validator().validate(document)


class Refused(Exception):
    """``docker compose`` would stop with this message (``${VAR:?message}``)."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r":?[-?+]")


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """``value`` as Compose interpolates it from ``shell``: the spec's ``${…}`` forms,
    nested ones included (``${A:+x${B}y}``), whose operand is interpolated first."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] != "$":
            out.append(value[i])
            i += 1
        elif value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("${", i):
            end = _closing_brace(value, i)
            out.append(_braced(value[i + 2 : end], shell))
            i = end + 1
        else:
            name = _NAME.match(value, i + 1)
            if name is None:
                out.append("$")
                i += 1
                continue
            out.append(shell.get(name.group(), ""))
            i = name.end()
    return "".join(out)


def _closing_brace(value: str, start: int) -> int:
    depth = 0
    for i in range(start, len(value)):
        if value.startswith("${", i):
            depth += 1
        elif value[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unclosed ${{ in {value!r}")


def _braced(expression: str, shell: Mapping[str, str]) -> str:
    name_match = _NAME.match(expression)
    assert name_match is not None, expression
    name = name_match.group()
    if name_match.end() == len(expression):
        return shell.get(name, "")
    operator = _OPERATOR.match(expression, name_match.end())
    assert operator is not None, expression
    op = operator.group()
    arg = interpolate(expression[operator.end() :], shell)
    present = name in shell and (shell[name] != "" or not op.startswith(":"))
    if op.endswith("-"):
        return shell[name] if present else arg
    if op.endswith("?"):
        if not present:
            raise Refused(arg)
        return shell[name]
    return arg if present else ""  # ``+``: the alternative when set


def component_environments() -> dict[str, dict[str, str]]:
    """The OMS_* environment of every service that runs an ``oms`` command."""
    return {
        name: {k: str(v) for k, v in service.get("environment", {}).items()}
        for name, service in compose()["services"].items()
        if any(str(v).startswith("OMS_") for v in service.get("environment", {}))
    }


def settings_from(environment: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for variable in [v for v in os.environ if v.startswith("OMS_")]:
        monkeypatch.delenv(variable)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    return Settings()


def test_interpolation_follows_the_compose_forms() -> None:
    shell = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $SET $$SET", shell) == (
        "value d  d value $SET"
    )
    assert interpolate("${EMPTY?m}${SET:+alt}${UNSET+alt}", shell) == "alt"
    with pytest.raises(Refused, match="m"):
        interpolate("${EMPTY:?m}", shell)
    nested = "a${SET:+,b${SET}c${UNSET:-d}}e${UNSET:+f${SET}}"
    assert interpolate(nested, shell) == "a,bvaluecde"
    assert interpolate("${UNSET:-x${SET:+y}}", shell) == "xy"


@pytest.mark.parametrize("shell", [{}, {"OMS_JWT_SECRET": ""}], ids=["unset", "empty"])
def test_no_component_starts_on_a_jwt_secret_the_compose_file_ships(
    shell: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    environments = component_environments()
    assert set(environments) >= COMPONENTS | {"migrate"}
    refusals = set()
    for name, environment in environments.items():
        try:
            resolved = {
                k: interpolate(v, {**BROKER_PASSWORDS, **shell}) for k, v in environment.items()
            }
        except Refused as refused:  # compose itself stops before starting anything
            refusals.add(str(refused))
            continue
        with pytest.raises(ValidationError, match="OMS_JWT_SECRET"):
            settings_from(resolved, monkeypatch)
            pytest.fail(f"{name} would start on a secret shipped in compose.yaml")
    assert all("OMS_JWT_SECRET" in message for message in refusals), refusals


def test_components_take_the_jwt_secret_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "a-deployment-secret-of-well-over-32-bytes"
    for name, environment in component_environments().items():
        shell = {**BROKER_PASSWORDS, "OMS_JWT_SECRET": secret}
        resolved = {k: interpolate(v, shell) for k, v in environment.items()}
        settings = settings_from(resolved, monkeypatch)
        assert settings.real_mode, name
        assert settings.jwt_key == secret, name


def test_the_broker_has_no_guest_and_every_port_is_local() -> None:
    assert "guest" not in json.dumps(compose())  # no guest user, no guest:guest URL
    settings = (ROOT / "rabbitmq" / "rabbitmq.conf").read_text().splitlines()
    assert "loopback_users.guest = false" not in settings
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_each_component_connects_as_its_own_broker_user_with_a_password_from_the_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "a-deployment-secret-of-well-over-32-bytes"
    environments = component_environments()
    shell = {**BROKER_PASSWORDS, "OMS_JWT_SECRET": secret}
    for name in BROKER_USERS:
        password = f"OMS_{name.upper()}_BROKER_PASSWORD"
        without = {k: v for k, v in shell.items() if k != password}
        with pytest.raises(Refused, match=password):
            {k: interpolate(v, without) for k, v in environments[name].items()}
        resolved = {k: interpolate(v, shell) for k, v in environments[name].items()}
        settings = settings_from(resolved, monkeypatch)
        assert settings.broker_url is None, name
        own = settings.own_broker_url(name)
        assert own == f"amqp://{name}:password-of-{name}_broker@rabbitmq:5672/", name
    for offline in ("card-provider", "bff-web", "bff-mobile"):
        assert not any("BROKER" in variable for variable in environments[offline]), offline


# The cluster profile (`docker compose --profile cluster up` with OMS_CLUSTER set).

SECRET = "a-deployment-secret-of-well-over-32-bytes"
COOKIE = "a-cookie-the-broker-nodes-share"
SHELL = {**BROKER_PASSWORDS, "OMS_JWT_SECRET": SECRET}
CLUSTER_SHELL = {**SHELL, "OMS_CLUSTER": "1", "OMS_BROKER_ERLANG_COOKIE": COOKIE}
BROKER_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
CLUSTER_DATABASE_URL = (
    "postgresql+asyncpg://oms:oms@postgres:5432,postgres-standby:5432/oms"
    "?target_session_attrs=read-write"
)
CLUSTER = frozenset({"cluster"})
CALLED = ("orders", "inventory", "users", "payments", "saga", "card-provider")
"""The components others call over HTTP, each given as ``OMS_<NAME>_URL``."""


def active(profiles: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """The services ``docker compose`` runs with ``profiles`` enabled."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }


def resolved(service: Mapping[str, Any], shell: Mapping[str, str]) -> dict[str, str]:
    return {k: interpolate(str(v), shell) for k, v in service.get("environment", {}).items()}


def runs(service: Mapping[str, Any]) -> str | None:
    """The component an ``oms run`` service runs."""
    command = service.get("command")
    if isinstance(command, list) and command[:1] == ["run"]:
        return str(command[1])
    return None


def test_the_default_stack_is_the_one_node_stack_it_was() -> None:
    services = active()
    assert set(services) == {
        *("rabbitmq", "postgres", "jaeger", "prometheus", "grafana", "migrate", "broker-setup"),
        *COMPONENTS,
    }
    assert sorted(c for c in map(runs, services.values()) if c) == sorted(COMPONENTS)
    common = {
        "OMS_DATABASE_URL": "postgresql+asyncpg://oms:oms@postgres:5432/oms",
        "OMS_JWT_SECRET": SECRET,
        "OMS_OTLP_ENDPOINT": "http://jaeger:4318",
        "OMS_LOG_FORMAT": "json",
        **{f"OMS_{c.upper().replace('-', '_')}_URL": f"http://{c}:{PORTS[c]}" for c in CALLED},
    }
    own = {
        f"OMS_{user.upper()}_BROKER_URL": f"amqp://{user}:password-of-{user}_broker@rabbitmq:5672/"
        for user in BROKER_USERS
    }
    for name in COMPONENTS:
        mine = {k: v for k, v in own.items() if k == f"OMS_{name.upper()}_BROKER_URL"}
        assert resolved(services[name], SHELL) == {**common, **mine}, name
    assert resolved(services["migrate"], SHELL) == common
    admin = "amqp://oms-admin:password-of-broker_admin@rabbitmq:5672/"
    assert resolved(services["broker-setup"], SHELL) == {**common, "OMS_BROKER_URL": admin, **own}
    assert resolved(services["rabbitmq"], SHELL)["ERLANG_COOKIE"] == ""  # the image makes one
    assert resolved(services["postgres"], SHELL)["REPLICATION"] == ""
    assert interpolate(services["postgres"]["volumes"][0], SHELL).startswith("pgdata:")


def test_the_cluster_profile_runs_a_second_replica_of_every_component() -> None:
    services = active(CLUSTER)
    for name in COMPONENTS:
        replicas = [s for s in services if runs(services[s]) == name]
        assert sorted(replicas) == [name, f"{name}-2"], name
        replica = services[f"{name}-2"]
        assert replica["profiles"] == ["cluster"]
        assert replica["command"] == services[name]["command"]
        assert resolved(replica, CLUSTER_SHELL) == resolved(services[name], CLUSTER_SHELL)
        assert "ports" not in replica, f"{name}-2 would publish {name}'s port twice"
        assert replica["depends_on"]["broker-replicas"]["condition"] == (
            "service_completed_successfully"
        )
        assert replica["depends_on"]["postgres-sync"]["condition"] == (
            "service_completed_successfully"
        )
    payments = services["payments-2"]["depends_on"]
    assert payments["card-provider"] == {"condition": "service_started"}


def test_in_the_cluster_every_component_has_three_broker_nodes_two_hosts_and_haproxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = active(CLUSTER)
    aliases = set(services["haproxy"]["networks"]["default"]["aliases"])
    for name, service in services.items():
        if not any(k.startswith("OMS_") for k in service.get("environment", {})):
            continue
        settings = settings_from(resolved(service, CLUSTER_SHELL), monkeypatch)
        assert settings.database_url == CLUSTER_DATABASE_URL, name
        for called in CALLED:
            assert settings.url_for(called) == f"http://{called}-lb:{PORTS[called]}", name
            assert f"{called}-lb" in aliases
        users = [u for u in BROKER_USERS if settings.own_broker_url(u)]
        if name == "broker-setup":
            assert settings.broker_url is not None
            assert [urlsplit(u).hostname for u in split_urls(settings.broker_url)] == [
                *BROKER_NODES
            ]
        for user in users:
            url = settings.own_broker_url(user)
            assert url is not None
            nodes = [urlsplit(u) for u in split_urls(url)]
            assert [n.hostname for n in nodes] == [*BROKER_NODES], name
            assert {(n.username, n.password, n.port) for n in nodes} == {
                (user, f"password-of-{user}_broker", 5672)
            }, name
        if users or name == "broker-setup":
            assert settings.quorum_replicas == 3, name
    single = settings_from(resolved(active()["broker-setup"], SHELL), monkeypatch)
    assert single.quorum_replicas is None


def test_in_the_cluster_prometheus_scrapes_both_replicas_of_every_component() -> None:
    mount = active(CLUSTER)["prometheus"]["volumes"][0]
    assert interpolate(mount, SHELL) == "./prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    config = interpolate(mount, CLUSTER_SHELL).split(":")[0]
    scraped = yaml.safe_load((ROOT / config).read_text())
    targets = {
        target: group["labels"]["component"]
        for job in scraped["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert targets == {
        f"{host}:{PORTS[name]}": name for name in COMPONENTS for host in (name, f"{name}-2")
    }
    if shutil.which("promtool") is None:  # CI installs Debian's prometheus (.ci/run)
        assert os.environ.get("CI") != "true", "CI=true: promtool must be installed"
    else:
        check = subprocess.run(
            ["promtool", "check", "config", str(ROOT / config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def haproxy_sections(text: str) -> dict[str, list[list[str]]]:
    """``haproxy.cfg`` as ``{"<keyword> <name>": [words of each line]}``."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if not line[0].isspace():
            current = sections.setdefault(" ".join(words), [])
        else:
            current.append(words)
    return sections


def test_haproxy_balances_both_replicas_of_every_component() -> None:
    services = active(CLUSTER)
    haproxy = services["haproxy"]
    assert str(haproxy["image"]).startswith("haproxy:")  # the official (Debian) image
    config = ROOT / "haproxy" / "compose-cluster.cfg"
    mounts = {v.split(":")[0]: v.split(":")[1] for v in haproxy["volumes"]}
    assert mounts["./haproxy/compose-cluster.cfg"] == "/usr/local/etc/haproxy/haproxy.cfg"
    sections = haproxy_sections(config.read_text())
    listens = {key.split()[1]: lines for key, lines in sections.items() if key.startswith("listen")}
    assert set(listens) == COMPONENTS
    published = set(haproxy["ports"])
    for name, lines in listens.items():
        port = PORTS[name]
        assert ["bind", f":{port}"] in lines, name
        servers = {line[2] for line in lines if line[0] == "server"}
        assert servers == {f"{name}:{port}", f"{name}-2:{port}"}, name
        assert {name, f"{name}-2"} <= set(services)
        assert f"127.0.0.1:{port + 20000}:{port}" in published, name
    assert set(haproxy["networks"]["default"]["aliases"]) == {f"{c}-lb" for c in COMPONENTS}
    default_server = next(line for line in sections["defaults"] if line[0] == "default-server")
    assert "resolvers" in default_server  # Docker's DNS, so replicas may come and go
    if shutil.which("haproxy") is None:  # CI installs Debian's haproxy (.ci/run)
        assert os.environ.get("CI") != "true", "CI=true: haproxy must be installed"
    else:
        check = subprocess.run(
            ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Configuration file is valid" in check.stdout + check.stderr


def test_the_three_broker_nodes_share_the_cookie_and_name_each_other() -> None:
    services = active(CLUSTER)
    conf = (ROOT / "rabbitmq" / "cluster.conf").read_text().splitlines()
    settings = dict(line.split(" = ", 1) for line in conf if line and not line.startswith("#"))
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    named = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config")}
    assert named == {f"rabbit@{services[node]['hostname']}" for node in BROKER_NODES}
    for node in BROKER_NODES:
        assert services[node]["hostname"] == node
        assert resolved(services[node], CLUSTER_SHELL)["ERLANG_COOKIE"] == COOKIE, node
        assert services[node]["image"] == services["rabbitmq"]["image"]
    for node in ("rabbitmq-2", "rabbitmq-3"):
        volumes = services[node]["volumes"]
        assert "./rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro" in volumes
        assert services[node]["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}
        assert "--cluster-member" in services[node]["entrypoint"]
    grow = services["broker-replicas"]
    assert "--cluster-member" in grow["entrypoint"]
    assert resolved(grow, CLUSTER_SHELL)["ERLANG_COOKIE"] == COOKIE
    assert all(f"grow rabbit@{node}" in " ".join(grow["command"]) for node in BROKER_NODES[1:])
    assert grow["depends_on"]["broker-setup"]["condition"] == "service_completed_successfully"


def test_the_standby_streams_from_postgres_which_waits_for_it_by_name() -> None:
    services = active(CLUSTER)
    standby = services["postgres-standby"]
    environment = resolved(standby, CLUSTER_SHELL)
    assert environment["PRIMARY_HOST"] == "postgres"
    assert standby["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_stat_wal_receiver" in " ".join(standby["healthcheck"]["test"])
    sync = services["postgres-sync"]
    assert "--host=postgres" in sync["command"]
    assert (
        f"--command=ALTER SYSTEM SET synchronous_standby_names = '{environment['STANDBY_NAME']}'"
        in sync["command"]
    )
    assert sync["depends_on"] == {"postgres-standby": {"condition": "service_healthy"}}
    primary = services["postgres"]
    assert resolved(primary, CLUSTER_SHELL)["REPLICATION"] != ""
    assert interpolate(primary["volumes"][0], CLUSTER_SHELL).startswith("pgdata-cluster:")
    init = "./postgres/replication.sh:/docker-entrypoint-initdb.d/10-replication.sh:ro"
    assert init in primary["volumes"]


# The scripts the containers start with, run here with the image's programs faked.


def fake_programs(tmp_path: Path, *names: str) -> dict[str, str]:
    """A PATH where each of ``names`` logs its arguments to ``<name>.log``, a line a
    call, each argument followed by ``|``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in names:
        program = bin_dir / name
        program.write_text(
            f"#!/bin/sh\n{{ printf '%s|' \"$@\"; echo; }} >>'{tmp_path}/{name}.log'\n"
        )
        program.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_script(script: str, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ROOT / script), *args], env=dict(env), capture_output=True, text=True, timeout=30
    )


def test_a_broker_node_writes_the_cookie_owner_only_then_runs_the_image_entrypoint(
    tmp_path: Path,
) -> None:
    env = {**fake_programs(tmp_path, "docker-entrypoint.sh"), "HOME": str(tmp_path)}
    cookie = tmp_path / ".erlang.cookie"
    lone = run_script("rabbitmq/node.sh", "rabbitmq-server", env=env)
    assert lone.returncode == 0, lone.stderr
    assert not cookie.exists()  # no cookie given: the node makes its own
    given = {**env, "ERLANG_COOKIE": COOKIE, "CLUSTER": "1"}
    member = run_script("rabbitmq/node.sh", "--cluster-member", "rabbitmq-server", env=given)
    assert member.returncode == 0, member.stderr
    assert cookie.read_text() == COOKIE
    assert cookie.stat().st_mode & 0o777 == 0o600
    log = (tmp_path / "docker-entrypoint.sh.log").read_text().splitlines()
    assert log == ["rabbitmq-server|", "rabbitmq-server|"]


@pytest.mark.parametrize(
    ("missing", "named"),
    [("ERLANG_COOKIE", "OMS_BROKER_ERLANG_COOKIE"), ("CLUSTER", "OMS_CLUSTER")],
)
def test_a_cluster_node_refuses_to_start_half_configured(
    missing: str, named: str, tmp_path: Path
) -> None:
    env = {**fake_programs(tmp_path, "docker-entrypoint.sh"), "HOME": str(tmp_path)}
    given = {**env, "ERLANG_COOKIE": COOKIE, "CLUSTER": "1", missing: ""}
    refused = run_script("rabbitmq/node.sh", "--cluster-member", "rabbitmq-server", env=given)
    assert refused.returncode == 64
    assert named in refused.stderr
    assert not (tmp_path / "docker-entrypoint.sh.log").exists()


def test_the_primary_lets_the_oms_user_replicate_only_in_the_cluster(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("host all all all scram-sha-256\n")
    for replication, lines in (("", 1), ("1", 2)):
        env = {"PATH": os.environ["PATH"], "PGDATA": str(tmp_path), "REPLICATION": replication}
        done = run_script("postgres/replication.sh", env=env)
        assert done.returncode == 0, done.stderr
        assert len(hba.read_text().splitlines()) == lines
    assert hba.read_text().splitlines()[-1] == "host replication oms all scram-sha-256"


def test_the_standby_is_a_base_backup_of_the_primary_made_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {
        **fake_programs(tmp_path, "gosu", "docker-entrypoint.sh"),
        "PGDATA": str(data),
        "PRIMARY_HOST": "postgres",
        "STANDBY_NAME": "postgres_standby",
    }
    first = run_script("postgres/standby.sh", "postgres", env=env)
    assert first.returncode == 0, first.stderr
    backup = (tmp_path / "gosu.log").read_text().split("|")
    assert backup[:2] == ["postgres", "pg_basebackup"]
    assert "--dbname=host=postgres user=oms application_name=postgres_standby" in backup
    assert {"--write-recovery-conf", "--wal-method=stream", f"--pgdata={data}"} <= set(backup)
    auto = (data / "postgresql.auto.conf").read_text().splitlines()
    assert auto == ["synchronous_standby_names = ''"]  # promoted, it waits for no standby
    (data / "PG_VERSION").write_text("16\n")
    again = run_script("postgres/standby.sh", "postgres", env=env)
    assert again.returncode == 0, again.stderr
    assert len((tmp_path / "gosu.log").read_text().splitlines()) == 1  # no second backup
    assert (tmp_path / "docker-entrypoint.sh.log").read_text().splitlines() == ["postgres|"] * 2
