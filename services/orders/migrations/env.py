from sqlmodel import SQLModel

import services.orders.models  # noqa: F401  (registers the tables on the metadata)
from shared.persistence.migrations import run_env

run_env(SQLModel.metadata)
