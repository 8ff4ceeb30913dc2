"""Alembic environment of the users service (run from code by ``shared.persistence.migrations``)."""

from sqlmodel import SQLModel

import services.users.models  # noqa: F401 - registers the tables on the metadata
from shared.persistence.migrations import run_env

run_env(SQLModel.metadata)
