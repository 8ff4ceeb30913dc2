"""Draw each saga definition from its table (``oms diagrams`` writes the result).

The diagram is generated from the definition's ``transitions``, the same table
``react`` dispatches on, so it cannot drift from what the saga does.  Edges that
change the status are drawn as arrows (one per pair of states, listing every
input that takes it); inputs that keep the status (resends, late replies) are
listed in a note on the state, to keep the drawing readable.

:func:`saga_graph` is that drawing's data: Mermaid for ``diagrams/``
(:func:`render_mermaid`), JSON for the ops dashboard (:meth:`SagaGraph.to_json`).
A definition drawn here has ``transitions`` (each with ``source``, ``input`` and
``target``), ``statuses``, ``terminal`` and ``undoing`` (``OrderSaga``, ``ReturnSaga``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from saga.definition import JSON

DIAGRAM_FILE = "saga-state.mmd"
"""The order saga's state diagram's file name inside ``diagrams/``."""

START = "[*]"
"""Where the saga comes from, as Mermaid names it."""


def diagram_file(kind: str) -> str:
    """The file name of a definition's diagram: the order saga's keeps its first name."""
    return DIAGRAM_FILE if kind == "order" else f"{kind}-saga-state.mmd"


@dataclass(frozen=True)
class SagaGraph:
    """The states, the arrows between them (each with the inputs that take it) and,
    per state, the inputs that keep it."""

    statuses: tuple[StrEnum, ...]
    kinds: dict[str, str]
    edges: dict[tuple[str, str], list[str]]
    stays: dict[StrEnum, list[str]]

    def to_json(self) -> JSON:
        """``states`` (each with its kind: ``forward``, ``undo`` or ``rest``), ``edges``
        (``from`` null is the start) and ``stays``."""
        return {
            "states": [{"name": s.value, "kind": self.kinds[s.value]} for s in self.statuses],
            "edges": [
                {"from": None if source == START else source, "to": target, "inputs": inputs}
                for (source, target), inputs in self.edges.items()
            ],
            "stays": {status.value: inputs for status, inputs in self.stays.items()},
        }


def saga_graph(definition: Any) -> SagaGraph:
    """The graph of ``definition``'s transition table."""
    edges: dict[tuple[str, str], list[str]] = {}
    stays: dict[StrEnum, list[str]] = {}
    for t in definition.transitions:
        if t.source is t.target:
            _add(stays.setdefault(t.target, []), t.input)
            continue
        source = START if t.source is None else t.source.value
        _add(edges.setdefault((source, t.target.value), []), t.input)
    statuses: tuple[StrEnum, ...] = tuple(definition.statuses)
    kinds = {
        s.value: "rest"
        if s in definition.terminal
        else ("undo" if s in definition.undoing else "forward")
        for s in statuses
    }
    return SagaGraph(statuses, kinds, edges, stays)


def render_mermaid(definition: Any) -> str:
    """A Mermaid ``stateDiagram-v2`` of ``definition``'s states and transitions."""
    graph = saga_graph(definition)
    lines = ["stateDiagram-v2"]
    lines.extend(
        f"    {source} --> {target} : {', '.join(inputs)}"
        for (source, target), inputs in graph.edges.items()
    )
    lines.extend(
        f"    {status.value} --> [*]" for status in graph.statuses if status in definition.terminal
    )
    for status in graph.statuses:
        if status in graph.stays:
            lines.append(f"    note right of {status.value}")
            lines.append("        stays on:")
            lines.extend(f"        {name}" for name in graph.stays[status])
            lines.append("    end note")
    return "\n".join(lines) + "\n"


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def write_saga_diagrams(directory: Path) -> list[Path]:
    """Write the diagram of every registered definition (default configuration)
    into ``directory``."""
    from saga.kinds import kinds_for
    from shared.settings import Settings

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds_for(Settings()):
        path = directory / diagram_file(kind.name)
        path.write_text(render_mermaid(kind.definition), encoding="utf-8")
        written.append(path)
    return written
