"""``oms saga prune``: finished sagas older than a given age removed from the saga's
database now (what the saga's housekeeping does with ``OMS_SAGA_RETENTION_DAYS``),
optionally archived first; ``--dry-run`` says what would go."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from oms.cli.saga import _say, saga_app
from oms.config import load_settings
from saga.retention import RATE, prune, would_prune
from shared.clock import utcnow
from shared.persistence.database import Database

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration."""
    matched = _AGE.match(text.strip())
    if matched is None or float(matched.group(1)) <= 0:
        raise typer.BadParameter("an age such as 30d, 12h or 90m", param_hint="--older-than")
    return timedelta(**{_UNITS[matched.group(2)]: float(matched.group(1))})


@saga_app.command("prune")
def prune_sagas(
    older_than: Annotated[
        str, typer.Option(help="finished sagas whose last change is older than this (30d, 12h)")
    ],
    dry_run: Annotated[bool, typer.Option(help="say what would go; remove nothing")] = False,
    archive: Annotated[
        Path | None,
        typer.Option(help="write each saga to DIR first (gzip JSON lines per day)"),
    ] = None,
    failed: Annotated[bool, typer.Option(help="failed sagas too (they wait for ops)")] = False,
    rate: Annotated[
        float, typer.Option(min=1.0, help="sagas removed a second, at most (checkouts go first)")
    ] = RATE,
) -> None:
    """Remove completed and cancelled sagas (failed ones with --failed) older than
    --older-than, with their history and inputs, in small batches; never a saga
    not at rest."""
    cutoff = utcnow() - parse_age(older_than)
    db = Database(load_settings().database_url_for("saga"), schema="saga")

    async def run() -> None:
        try:
            due = await would_prune(db, cutoff, failed=failed)
            what = "completed, cancelled or failed" if failed else "completed or cancelled"
            span = f", last changed {due.oldest} to {due.newest}" if due.sagas else ""
            if dry_run:
                _say(f"would prune {due.sagas:,} sagas {what} before {cutoff}{span}")
                return
            removed = await prune(db, cutoff, failed=failed, archive=archive, rate=rate)
            where = f", archived in {archive}" if archive is not None else ""
            _say(f"pruned {removed:,} sagas {what} before {cutoff}{where}")
        finally:
            await db.dispose()

    asyncio.run(run())
