from sqlmodel import SQLModel

import saga.models  # noqa: F401  (registers the tables)
from shared.persistence.migrations import run_env

run_env(SQLModel.metadata)
