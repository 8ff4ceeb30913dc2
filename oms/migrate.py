"""``oms migrate``: each service's Alembic revisions, against its own database."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.settings import CARD_PROVIDER, SERVICES, Settings
from shared.startup import StartupFailed

PACKAGES = {"saga": "saga", CARD_PROVIDER: "card_provider"}
"""Where a component's package is when it is not ``services.<name>``."""


def migrations_dir(service: str) -> Path | None:
    package = PACKAGES.get(service, f"services.{service}")
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "migrations"
    return folder if folder.is_dir() else None


async def migrate_all(settings: Settings) -> list[str]:
    done = []
    for service in (CARD_PROVIDER, *SERVICES):
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
