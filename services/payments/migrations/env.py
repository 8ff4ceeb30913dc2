"""Alembic environment of the payments service (run from code by ``shared.persistence.migrations``)."""

from sqlmodel import SQLModel

import services.payments.models  # noqa: F401 - registers the tables on the metadata
from shared.persistence.migrations import run_env

run_env(SQLModel.metadata)
