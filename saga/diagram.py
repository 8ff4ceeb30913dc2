"""Draw the order saga from its definition (``oms diagrams`` writes the result).

The diagram is generated from :attr:`OrderSaga.transitions`, the same table
``react`` dispatches on, so it cannot drift from what the saga does.  Edges that
change the status are drawn as arrows (one per pair of states, listing every
input that takes it); inputs that keep the status (resends, late replies) are
listed in a note on the state, to keep the drawing readable.

:func:`saga_graph` is that drawing's data: Mermaid for ``diagrams/``
(:func:`render_mermaid`), JSON for the ops dashboard (:meth:`SagaGraph.to_json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from saga.definition import JSON, TERMINAL, UNDOING, OrderSaga, SagaConfig, SagaStatus

DIAGRAM_FILE = "saga-state.mmd"
"""The saga state diagram's file name inside ``diagrams/``."""

START = "[*]"
"""Where the saga comes from, as Mermaid names it."""


@dataclass(frozen=True)
class SagaGraph:
    """The states, the arrows between them (each with the inputs that take it) and,
    per state, the inputs that keep it."""

    edges: dict[tuple[str, str], list[str]]
    stays: dict[SagaStatus, list[str]]

    def to_json(self) -> JSON:
        """``states`` (each with its kind: ``forward``, ``undo`` or ``rest``), ``edges``
        (``from`` null is the start) and ``stays``."""
        return {
            "states": [{"name": s.value, "kind": _kind(s)} for s in SagaStatus],
            "edges": [
                {"from": None if source == START else source, "to": target, "inputs": inputs}
                for (source, target), inputs in self.edges.items()
            ],
            "stays": {status.value: inputs for status, inputs in self.stays.items()},
        }


def saga_graph(definition: OrderSaga) -> SagaGraph:
    """The graph of ``definition``'s transition table."""
    edges: dict[tuple[str, str], list[str]] = {}
    stays: dict[SagaStatus, list[str]] = {}
    for t in definition.transitions:
        if t.source is t.target:
            _add(stays.setdefault(t.target, []), t.input)
            continue
        source = START if t.source is None else t.source.value
        _add(edges.setdefault((source, t.target.value), []), t.input)
    return SagaGraph(edges, stays)


def render_mermaid(definition: OrderSaga) -> str:
    """A Mermaid ``stateDiagram-v2`` of ``definition``'s states and transitions."""
    graph = saga_graph(definition)
    lines = ["stateDiagram-v2"]
    lines.extend(
        f"    {source} --> {target} : {', '.join(inputs)}"
        for (source, target), inputs in graph.edges.items()
    )
    lines.extend(f"    {status.value} --> [*]" for status in SagaStatus if status in TERMINAL)
    for status in SagaStatus:
        if status in graph.stays:
            lines.append(f"    note right of {status.value}")
            lines.append("        stays on:")
            lines.extend(f"        {name}" for name in graph.stays[status])
            lines.append("    end note")
    return "\n".join(lines) + "\n"


def _kind(status: SagaStatus) -> str:
    if status in TERMINAL:
        return "rest"
    return "undo" if status in UNDOING else "forward"


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def write_saga_diagram(directory: Path, definition: OrderSaga | None = None) -> Path:
    """Write the diagram of ``definition`` (default configuration) into ``directory``."""
    path = directory / DIAGRAM_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_mermaid(definition or OrderSaga(SagaConfig())), encoding="utf-8")
    return path
