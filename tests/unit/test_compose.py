"""compose.yaml stays valid against the Compose specification's JSON schema
(``tests/data/compose-spec.json``, the spec's draft 2019-09 schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"orders", "inventory", "users", "payments", "saga", "bff-web", "bff-mobile"}


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


def test_compose_file_with_a_mistake_is_rejected() -> None:
    document = compose()
    document["services"]["orders"]["ports"] = "3001:3001"  # must be a list
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'array'"):
        validator().validate(document)
