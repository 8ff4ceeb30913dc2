"""The saga's Prometheus families, beside the HTTP ones every component exposes.

Counted from each decision the runtime stores (:meth:`SagaMetrics.decided`, once
the transaction commits, so a transaction run again after a conflict counts
once):

* ``oms_saga_started_total`` and ``oms_saga_finished_total{outcome}``, every
  arrival at ``completed``, ``cancelled`` or ``failed`` (a completed saga the
  customer then cancels finishes twice: completed, then cancelled);
* ``oms_saga_duration_seconds{outcome}``: from the saga's start to that arrival;
* ``oms_saga_step_duration_seconds{command}``: from the last send of a command
  to the reply that answered it;
* ``oms_saga_timeouts_total{command}``, ``oms_saga_resends_total{command}`` and
  ``oms_saga_compensations_total{step}`` (each step's first compensation);
* ``oms_saga_concurrency_retries_total``: transactions run again after another
  saga process changed the saga first.

Read from the tables at scrape time, so they survive restarts and agree across
saga processes: ``oms_saga_in_flight{state}`` (from the counts of :mod:`saga.statecounts`), ``oms_saga_dead_letters{queue}`` and
``oms_saga_parked_inputs{queue}`` (inputs waiting for their saga to start), beside
``oms_saga_parked_expired_total``, those expired unclaimed.

Labels are names from the definition (states, steps, commands) and queue names:
a fixed, small set, whatever the traffic.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import func
from sqlmodel import col, select

from saga.definition import Decision, Input, SagaStatus
from saga.definition.inputs import input_name
from saga.definition.statuses import TERMINAL
from saga.definition.steps import STEPS
from saga.models import DeadLetterRow, ParkedMessageRow
from saga.returns import TERMINAL as RETURN_TERMINAL
from saga.returns import ReturnStatus
from saga.statecounts import counts_by_state
from saga.store import SagaTransaction, StoredSaga
from shared.messages import PaymentRefundFailed
from shared.metrics import Refresh, ScrapedGauge
from shared.persistence.database import Database

_TERMINAL = frozenset(status.value for status in TERMINAL) | {"expired"}
IN_FLIGHT = (
    *(status.value for status in SagaStatus if status not in TERMINAL),
    *(status.value for status in ReturnStatus if status not in RETURN_TERMINAL),
    SagaStatus.failed.value,
)
"""The states a saga of any kind waits in: every running or undoing one (a return's
too, their names its own), and ``failed``, which waits for ops."""
_ANSWERS: dict[str, frozenset[str]] = {
    **{
        step.command.type_name: frozenset(
            reply.type_name for reply in (step.success, step.refusal) if reply is not None
        )
        for step in STEPS
    },
    **{step.compensation.type_name: frozenset({step.compensated.type_name}) for step in STEPS},
}
"""The replies that answer each command (a refused refund answers the refund too)."""
_ANSWERS["payment.refund"] |= {PaymentRefundFailed.type_name}
_COMPENSATED_STEP = {step.compensation.type_name: step.name.value for step in STEPS}
OTHER_QUEUE = "other"
"""The label of dead letters from a queue the topology does not name."""

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SAGA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class SagaMetrics:
    """The saga families in ``registry``, told by the runtime of every decision it stores
    (:meth:`decided`) and every conflict (:meth:`conflict`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        refreshes: list[Refresh],
        db: Database,
        *,
        queues: Iterable[str],
    ) -> None:
        self._db = db
        self._queues = frozenset(queues)
        self.started = Counter(
            "oms_saga_started_total", "Sagas started, by kind.", ["kind"], registry=registry
        )
        self.finished = Counter(
            "oms_saga_finished_total",
            "Sagas that came to rest, by kind and outcome (completed, cancelled, expired, failed).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "oms_saga_duration_seconds",
            "From a saga's start to its coming to rest, by kind and outcome.",
            ["kind", "outcome"],
            buckets=SAGA_BUCKETS,
            registry=registry,
        )
        self.step_duration = Histogram(
            "oms_saga_step_duration_seconds",
            "From the last send of a command to the reply that answered it, by command.",
            ["command"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.timeouts = Counter(
            "oms_saga_timeouts_total",
            "Commands whose reply did not come within the step's deadline, by command.",
            ["command"],
            registry=registry,
        )
        self.resends = Counter(
            "oms_saga_resends_total",
            "Commands sent again (after a timeout, a backoff or an operator retry), by command.",
            ["command"],
            registry=registry,
        )
        self.compensations = Counter(
            "oms_saga_compensations_total",
            "Steps the saga started to undo, by step.",
            ["step"],
            registry=registry,
        )
        self.conflicts = Counter(
            "oms_saga_concurrency_retries_total",
            "Saga transactions run again because another saga process changed the saga first.",
            registry=registry,
        )
        ScrapedGauge(
            "oms_saga_in_flight",
            "Sagas waiting in each state (failed ones wait for ops), read from the saga table.",
            "state",
            self._in_flight,
            always=IN_FLIGHT,
        ).register(registry, refreshes)
        self.expired = Counter(
            "oms_saga_parked_expired_total",
            "Inputs parked for a saga that never started, expired into the dead letters.",
            registry=registry,
        )
        ScrapedGauge(
            "oms_saga_parked_inputs",
            "Inputs parked for a saga that does not exist yet, by the queue they came from.",
            "queue",
            self._parked,
            always=("saga.events",),
        ).register(registry, refreshes)
        ScrapedGauge(
            "oms_saga_dead_letters",
            "Dead letters not requeued, by the queue that dead-lettered them.",
            "queue",
            self._dead_letters,
            always=sorted(self._queues),
        ).register(registry, refreshes)

    # --- counted from decisions --------------------------------------------------

    def decided(
        self,
        tx: SagaTransaction,
        before: StoredSaga | None,
        decision: Decision,
        input: Input,
        now: datetime,
        *,
        kind: str = "order",
    ) -> None:
        """``decision`` answered ``input`` at ``now`` for the saga of ``kind`` stored as
        ``before`` (None: it starts), in transaction ``tx``: counted once that commits."""
        if decision.ignored:
            return
        if before is None:
            previous, started_at, awaited = None, now, None
        else:
            # Created in this very transaction (a parked input applied at once): now.
            started_at = before.created_at or now
            previous, awaited = before.status, _awaited(before)
        tx.after_commit(
            functools.partial(
                self._count, kind, previous, started_at, awaited, decision, input_name(input), now
            )
        )

    def parked_expired(self, count: int) -> None:
        """``count`` parked inputs were expired (told once the expiry committed)."""
        self.expired.inc(count)

    def conflict(self) -> None:
        """A transaction is run again: the saga changed under it."""
        self.conflicts.inc()

    def _count(
        self,
        kind: str,
        previous: str | None,
        started_at: datetime,
        awaited: tuple[str, datetime] | None,
        decision: Decision,
        input: str,
        now: datetime,
    ) -> None:
        if previous is None:
            self.started.labels(kind).inc()
        outcome = decision.state.status.value
        if outcome in _TERMINAL and previous not in _TERMINAL:
            self.finished.labels(kind, outcome).inc()
            self.duration.labels(kind, outcome).observe((now - started_at).total_seconds())
        if awaited is not None and input in _ANSWERS.get(awaited[0], ()):
            self.step_duration.labels(awaited[0]).observe((now - awaited[1]).total_seconds())
        for entry in decision.history:
            if entry.kind == "timeout" and not entry.detail.get("backoff"):
                self.timeouts.labels(entry.detail["command"]).inc()
            elif entry.kind == "command_out":
                command, attempt = entry.detail["type"], entry.detail["attempt"]
                if attempt > 1:
                    self.resends.labels(command).inc()
                elif command in _COMPENSATED_STEP:
                    self.compensations.labels(_COMPENSATED_STEP[command]).inc()

    # --- read at scrape time -----------------------------------------------------

    async def _in_flight(self) -> Mapping[str, float]:
        counts = await counts_by_state(self._db)
        return {status: n for status, n in counts.items() if status in IN_FLIGHT}

    async def _parked(self) -> dict[str, float]:
        async with self._db.reads() as session:
            count = (await session.exec(select(func.count()).select_from(ParkedMessageRow))).one()
            return {"saga.events": count or 0}

    async def _dead_letters(self) -> dict[str, float]:
        async with self._db.reads() as session:
            rows = await session.exec(
                select(col(DeadLetterRow.queue), func.count())
                .where(col(DeadLetterRow.requeued_at).is_(None))
                .group_by(col(DeadLetterRow.queue))
            )
            counts: dict[str, float] = {}
            for queue, count in rows.all():
                # A dead letter names its queue itself: only known names become labels.
                label = queue if queue in self._queues else OTHER_QUEUE
                counts[label] = counts.get(label, 0) + count
            return counts


def _awaited(row: StoredSaga) -> tuple[str, datetime] | None:
    """The command the saga waits on and when it was last sent, from its stored state
    (none while it waits out a backoff: that deadline is no send's)."""
    deadline = row.state.get("deadline")
    if not deadline or row.state.get("backingOff") or row.deadline_at is None:
        return None
    sent_at = row.deadline_at - timedelta(seconds=float(deadline["afterSeconds"]))
    return str(deadline.get("command", deadline.get("step"))), sent_at
