"""compose.yaml stays valid against the Compose specification's JSON schema
(``tests/data/compose-spec.json``, the spec's draft 2019-09 schema), and ships no
JWT secret a real deployment would start with."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from oms.components import COMPONENTS as KNOWN
from shared.settings import Settings

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


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """``value`` as Compose interpolates it from ``shell`` (the spec's ``${…}`` forms)."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["bare"] or match["name"]
        op, arg = match["op"], match["arg"] or ""
        present = name in shell and (shell[name] != "" or not (op or "").startswith(":"))
        if op is None:
            return shell.get(name, "")
        if op.endswith("-"):
            return shell[name] if present else arg
        if op.endswith("?"):
            if not present:
                raise Refused(arg)
            return shell[name]
        return arg if present else ""  # ``+``: the alternative when set

    return _VARIABLE.sub(one, value)


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
