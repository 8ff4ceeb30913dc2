"""The archive of pruned sagas: a directory of gzip-compressed JSON lines, one file
per day the sagas started (``sagas-YYYY-MM-DD.jsonl.gz``), a saga a line with its
row, its history (each entry in words too) and its inputs.

Each batch is appended as a gzip member of its own, which every gzip reader reads
on as one file.  A saga written twice (its deletion failed and was done again)
is read as its last line.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saga.definition import InvalidSagaState, SagaState
from saga.records import Entry, Taped
from saga.timeline import describe

PATTERN = "sagas-*.jsonl.gz"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def archived(row: Any, history: Sequence[Entry], tape: Sequence[Taped]) -> dict[str, Any]:
    """One saga as its archive line says it: the fields ``GET /sagas/{id}`` answers
    (``stuck`` null, nothing ``ahead``: it was at rest), its stored state, inputs."""
    try:
        state = SagaState.from_json(row.state)
        status, step, attempts, reason = (
            state.status.value,
            state.current,
            state.attempt,
            state.reason,
        )
    except InvalidSagaState:  # archived as stored, whatever it says
        status, step, attempts, reason = row.status, None, 0, None
    return {
        "id": row.id,
        "state": status,
        "step": step,
        "attempts": attempts,
        "failureReason": reason,
        "stuck": None,
        "ahead": [],
        "version": row.version,
        "definitionVersion": row.definition_version,
        "userId": row.user_id,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.updated_at),
        "deadlineAt": _iso(row.deadline_at),
        "stored": row.state,
        "history": [
            {
                "at": _iso(e.at),
                "kind": e.kind,
                "text": describe(e.kind, e.detail),
                "detail": e.detail,
                "messageId": e.message_id,
                "definitionVersion": e.definition_version,
            }
            for e in history
        ],
        "inputs": [
            {
                "at": _iso(t.at),
                "input": t.input,
                "decision": t.decision,
                "definitionVersion": t.definition_version,
            }
            for t in tape
        ],
        "archivedAt": datetime.now(UTC).isoformat(),
    }


def append_archive(directory: Path, sagas: Sequence[tuple[Any, list[Entry], list[Taped]]]) -> None:
    """Append ``sagas`` (row, history, tape) to the day files of ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    by_day: dict[str, list[str]] = {}
    for row, history, tape in sagas:
        day = row.created_at.astimezone(UTC).date().isoformat()
        line = json.dumps(archived(row, history, tape), separators=(",", ":"))
        by_day.setdefault(day, []).append(line)
    for day, lines in sorted(by_day.items()):
        with gzip.open(directory / f"sagas-{day}.jsonl.gz", "at", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


def find_archived(directory: Path, saga_id: str) -> dict[str, Any] | None:
    """The saga's last line in the archive, or None."""
    needle = json.dumps(saga_id)
    found = None
    for path in sorted(directory.glob(PATTERN)):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                if needle in line:
                    saga = json.loads(line)
                    if saga.get("id") == saga_id:
                        found = saga
    return found
