"""Alembic environment of the card provider (run from code by ``shared.persistence.migrations``)."""

from card_provider.tables import metadata
from shared.persistence.migrations import run_env

run_env(metadata)
