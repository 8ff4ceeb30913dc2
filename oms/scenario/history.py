"""A saga's history as the ops API returns it (``GET /sagas/{id}``), read for scenarios."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def commands_of(saga: Mapping[str, Any]) -> list[str]:
    """Every command the saga sent, in order."""
    return [h["detail"]["type"] for h in saga["history"] if h["kind"] == "command_out"]


def states_of(saga: Mapping[str, Any]) -> list[str]:
    """Every state the saga entered, in order."""
    return [h["detail"]["to"] for h in saga["history"] if h["kind"] == "transition"]


def is_subsequence(
    expected: Sequence[str], seen: Sequence[str], same: Callable[[str, str], bool]
) -> bool:
    remaining = iter(seen)
    return all(any(same(e, s) for s in remaining) for e in expected)


def arrows(items: Sequence[str]) -> str:
    """``a → b → c``, or ``(none)``."""
    return " → ".join(items) if items else "(none)"


_MARKS = {"message_in": "<", "command_out": ">", "timeout": "!", "operator": "ops "}


def trail_of(saga: Mapping[str, Any]) -> str:
    """The saga in one line after its state: every state ``[x]``, input ``<x``,
    command ``>x``, timeout ``!x`` and operator action ``ops x``."""
    entries = []
    for entry in saga["history"]:
        detail = entry["detail"]
        if entry["kind"] == "transition":
            entries.append(f"[{detail['to']}]")
        elif entry["kind"] in _MARKS:
            what = (
                detail.get("type")
                or detail.get("command")
                or detail.get("step")
                or detail.get("action")
            )
            entries.append(f"{_MARKS[entry['kind']]}{what}")
    return f"{saga['state']}: " + " ".join(entries)
