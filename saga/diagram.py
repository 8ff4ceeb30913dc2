"""Draw the order saga from its definition (``oms diagrams`` writes the result).

The diagram is generated from :attr:`OrderSaga.transitions`, the same table
``react`` dispatches on, so it cannot drift from what the saga does.  Edges that
change the status are drawn as arrows (one per pair of states, listing every
input that takes it); inputs that keep the status (resends, late replies) are
listed in a note on the state, to keep the drawing readable.
"""

from __future__ import annotations

from pathlib import Path

from saga.definition import TERMINAL, OrderSaga, SagaConfig, SagaStatus

DIAGRAM_FILE = "saga-state.mmd"
"""The saga state diagram's file name inside ``diagrams/``."""


def render_mermaid(definition: OrderSaga) -> str:
    """A Mermaid ``stateDiagram-v2`` of ``definition``'s states and transitions."""
    edges: dict[tuple[str, str], list[str]] = {}
    stays: dict[SagaStatus, list[str]] = {}
    for t in definition.transitions:
        if t.source is t.target:
            _add(stays.setdefault(t.target, []), t.input)
            continue
        source = "[*]" if t.source is None else t.source.value
        _add(edges.setdefault((source, t.target.value), []), t.input)

    lines = ["stateDiagram-v2"]
    lines.extend(
        f"    {source} --> {target} : {', '.join(inputs)}"
        for (source, target), inputs in edges.items()
    )
    lines.extend(f"    {status.value} --> [*]" for status in SagaStatus if status in TERMINAL)
    for status in SagaStatus:
        if status in stays:
            lines.append(f"    note right of {status.value}")
            lines.append("        stays on:")
            lines.extend(f"        {name}" for name in stays[status])
            lines.append("    end note")
    return "\n".join(lines) + "\n"


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def write_saga_diagram(directory: Path, definition: OrderSaga | None = None) -> Path:
    """Write the diagram of ``definition`` (default configuration) into ``directory``."""
    path = directory / DIAGRAM_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_mermaid(definition or OrderSaga(SagaConfig())), encoding="utf-8")
    return path
