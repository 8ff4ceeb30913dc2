"""The committed OpenAPI documents are what the code builds: an HTTP contract
changes only with its document in the same commit (``oms openapi`` rewrites them)."""

from __future__ import annotations

import json

import pytest

from oms.openapi import DOCUMENTS, build_documents, render

BUILT = build_documents()


@pytest.mark.parametrize("component", sorted(BUILT))
def test_the_committed_document_is_what_the_code_builds(component: str) -> None:
    committed = DOCUMENTS / f"{component}.json"
    assert committed.exists(), f"{committed} is missing: run `oms openapi`"
    built = BUILT[component]
    assert json.loads(committed.read_text(encoding="utf-8")) == built, (
        f"{component}'s HTTP contract changed: run `oms openapi` and review the diff"
    )
    assert committed.read_text(encoding="utf-8") == render(built)


def test_every_component_has_a_document() -> None:
    assert set(BUILT) == {p.stem for p in DOCUMENTS.glob("*.json")}
    assert len(BUILT) == 8  # OMS's seven components and the card provider
