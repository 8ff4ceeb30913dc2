"""``oms migrate``: each service's Alembic revisions, against its own database."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.settings import SERVICES, Settings
from shared.startup import StartupFailed


def migrations_dir(service: str) -> Path | None:
    package = "saga" if service == "saga" else f"services.{service}"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "migrations"
    return folder if folder.is_dir() else None


async def migrate_all(settings: Settings) -> list[str]:
    done = []
    for service in SERVICES:
        folder = migrations_dir(service)
        if folder is None:
            continue
        db = Database(settings.database_url_for(service), schema=service)
        try:
            await upgrade(db, folder)
        except Exception as error:
            raise StartupFailed(service, "migrate its database", db.where, error) from error
        finally:
            await db.dispose()
        done.append(service)
    return done
