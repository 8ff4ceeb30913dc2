"""Each saga definition's state diagram is drawn from its table, and the committed
copies are current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oms.cli import app
from saga.definition import OrderSaga, SagaConfig
from saga.diagram import DIAGRAM_FILE, diagram_file, render_mermaid, saga_graph
from saga.returns import ReturnSaga

DIAGRAMS = Path(__file__).resolve().parents[3] / "diagrams"
DEFINITIONS = [OrderSaga(SagaConfig()), ReturnSaga()]


@pytest.mark.parametrize("saga", DEFINITIONS, ids=lambda d: d.kind)
def test_the_committed_diagram_is_what_the_definition_draws(saga: Any) -> None:
    name = diagram_file(saga.kind)
    committed = (DIAGRAMS / name).read_text(encoding="utf-8")

    assert committed == render_mermaid(saga), (
        f"diagrams/{name} is out of date with its definition: "
        "run `oms diagrams` and commit the result"
    )


@pytest.mark.parametrize("saga", DEFINITIONS, ids=lambda d: d.kind)
def test_every_transition_of_the_definition_is_drawn(saga: Any) -> None:
    drawn = render_mermaid(saga)
    lines = drawn.splitlines()

    for t in saga.transitions:
        if t.source is t.target:
            # Inputs that keep the status are listed in the note on that state.
            note = lines[lines.index(f"    note right of {t.target.value}") :]
            assert f"        {t.input}" in note[: note.index("    end note")]
        else:
            source = "[*]" if t.source is None else t.source.value
            edge = next(line for line in lines if line.startswith(f"    {source} --> {t.target}"))
            assert t.input in edge.split(" : ", 1)[1].split(", ")
    for status in saga.terminal:
        assert f"    {status.value} --> [*]" in lines


def test_the_return_saga_is_drawn_with_its_own_states() -> None:
    graph = saga_graph(ReturnSaga()).to_json()
    kinds = {s["name"]: s["kind"] for s in graph["states"]}
    assert kinds == {
        "awaiting_receipt": "forward",
        "expiring": "undo",
        "restocking": "forward",
        "refunding": "forward",
        "closing": "forward",
        "completed": "rest",
        "expired": "rest",
        "failed": "rest",
    }
    assert {"from": None, "to": "awaiting_receipt", "inputs": ["return.requested"]} in graph[
        "edges"
    ]


def test_oms_diagrams_writes_every_definitions_diagram(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["diagrams", "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert (tmp_path / DIAGRAM_FILE).read_text(encoding="utf-8") == render_mermaid(OrderSaga())
    assert (tmp_path / "return-saga-state.mmd").read_text(encoding="utf-8") == render_mermaid(
        ReturnSaga()
    )
