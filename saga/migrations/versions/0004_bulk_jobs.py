"""Bulk retries and aborts run as jobs: the job (what, by whom, why, at what rate,
how far) and each saga's outcome."""

from shared.persistence.revisions import NewTable, creating

revision = "0004"
down_revision = "0003"

SAGA_JOBS = NewTable(
    "saga_jobs",
    """
    id                string(36)   key
    action            string(10)
    filter            json
    described         string
    reason            string(500)
    actor             string(200)
    rate              float
    status            string(20)   index
    selected          integer
    done              integer
    succeeded         integer
    after_created_at  time?
    after_id          string(64)?
    created_at        time
    updated_at        time
    """,
)
SAGA_JOB_OUTCOMES = NewTable(
    "saga_job_outcomes",
    """
    id       integer     key
    job_id   string(36)  index
    saga_id  string(64)
    ok       boolean
    state    string(40)?
    error    string?
    at       time
    """,
)

upgrade, downgrade = creating(SAGA_JOBS, SAGA_JOB_OUTCOMES)
