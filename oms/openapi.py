"""Every component's OpenAPI document, as the code builds it.

``oms openapi`` writes them to ``docs/openapi/`` (one JSON file per component);
a test compares the committed files with what the code builds, so a change to
any HTTP contract shows in review as a change to its document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oms.components import available_components
from shared.messaging.inprocess import InProcessTransport
from shared.settings import Settings

DOCUMENTS = Path("docs/openapi")


def build_documents(settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """Each component's document, built without starting it (no database, no broker)."""
    settings = settings or Settings(_env_file=None)
    return {
        component.name: component.build(settings, InProcessTransport()).openapi()
        for component in available_components()
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_documents(folder: Path = DOCUMENTS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in build_documents().items():
        path = folder / f"{name}.json"
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written
