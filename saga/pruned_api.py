"""``GET /pruned-sagas/{id}``: whether retention removed a saga, and when (its order
had a saga, finished long ago)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from saga.api import Runtime
from saga.models import SagaPrunedRow
from shared.web.auth import OpsPrincipal
from shared.web.problems import NotFound
from shared.web.schemas import CamelModel

router = APIRouter(tags=["sagas"])


class PrunedSaga(CamelModel):
    id: str
    pruned_at: datetime


@router.get("/pruned-sagas/{saga_id}", response_model=PrunedSaga)
async def pruned_saga(saga_id: str, runtime: Runtime, _ops: OpsPrincipal) -> PrunedSaga:
    """The saga retention removed (finished, older than ``OMS_SAGA_RETENTION_DAYS``);
    404 when it did not."""
    row = await runtime.db.read_row(SagaPrunedRow, saga_id)
    if row is None:
        raise NotFound(f"saga {saga_id} was not pruned")
    return PrunedSaga(id=row.saga_id, pruned_at=row.pruned_at)
