"""The saga state diagram is drawn from the definition, and the committed copy is current."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from oms.cli import app
from saga.definition import TERMINAL, OrderSaga, SagaConfig
from saga.diagram import DIAGRAM_FILE, render_mermaid

DIAGRAMS = Path(__file__).resolve().parents[3] / "diagrams"


def test_the_committed_saga_diagram_is_what_the_definition_draws() -> None:
    committed = (DIAGRAMS / DIAGRAM_FILE).read_text(encoding="utf-8")

    assert committed == render_mermaid(OrderSaga(SagaConfig())), (
        f"diagrams/{DIAGRAM_FILE} is out of date with saga/definition/: "
        "run `oms diagrams` and commit the result"
    )


def test_every_transition_of_the_definition_is_drawn() -> None:
    saga = OrderSaga()
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
    for status in TERMINAL:
        assert f"    {status.value} --> [*]" in lines


def test_oms_diagrams_writes_the_saga_diagram(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["diagrams", "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert (tmp_path / DIAGRAM_FILE).read_text(encoding="utf-8") == render_mermaid(OrderSaga())
