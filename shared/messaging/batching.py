"""Group commit: what a consumer has been handed, handled in one transaction.

A consumer given a :data:`BatchHandler` does not run one transaction per
delivery.  Each delivery is first admitted on its own (its envelope read and its
body decoded, :func:`~shared.messaging.transport.admit`: an unusable one is
dead-lettered alone and never joins a batch).  The admitted ones wait in a
:class:`Batcher`, which takes what has arrived, up to ``size`` deliveries (or
what came within ``linger`` seconds of the first), and hands them to the batch
handler, which handles them all in one transaction and commits once.  Then they
are acked together: one ``ack`` with ``multiple`` when they are all the
channel's oldest unsettled deliveries, one each otherwise.

A batch that fails is run again one delivery at a time under the usual consume
policy (:func:`~shared.messaging.transport.handle_incoming`), so a poison message
is dead-lettered alone and its neighbours commit.  A crash after the commit and
before the ack redelivers the batch, and the handlers' inbox makes the second
run change nothing.

Deliveries of one correlation id (one saga) stay in the order they came: within
a batch the handler takes them in that order, and a delivery whose correlation
id is in a batch still running waits for the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.context import bind_context
from shared.logging import get_logger
from shared.messaging.transport import Delivery, Incoming
from shared.telemetry import within

log = get_logger(__name__)

MAX_LINGER_SECONDS = 0.002
"""The longest a batch waits for more deliveries than have arrived."""

BatchHandler = Callable[[Sequence[Incoming]], Awaitable[None]]
"""Handles every message of a batch in one transaction, or raises and changes nothing."""
OneHandler = Callable[[Delivery, Incoming], Awaitable[None]]
"""Handles and settles one admitted delivery under the consume policy."""
AckAll = Callable[[Sequence[Delivery]], Awaitable[None]]


class BatchRefused(Exception):
    """Raised by a batch handler that will not take this batch (not a failure): its
    deliveries are handled as unbatched ones are, each on its own."""


@dataclass(frozen=True)
class Batching:
    """How a consumer forms batches.

    ``size`` deliveries at most per batch (1: no batches; keep the prefetch at
    least this), ``linger`` seconds waited for more when fewer have arrived (0:
    take what is there), ``lanes`` batches in flight at once per consumer."""

    size: int = 16
    linger: float = 0.0
    lanes: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or self.lanes < 1:
            raise ValueError("a batch holds at least one delivery, on at least one lane")
        if not 0 <= self.linger <= MAX_LINGER_SECONDS:
            raise ValueError(f"linger is between 0 and {MAX_LINGER_SECONDS} seconds")

    @property
    def on(self) -> bool:
        return self.size > 1


OFF = Batching(size=1, lanes=1)


class BatchSizes:
    """How many deliveries each batch of one consumer held: a count per size."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.counts: Counter[int] = Counter()

    @classmethod
    def of(cls, counts: Counter[int], queue: str = "") -> BatchSizes:
        sizes = cls(queue)
        sizes.counts.update(counts)
        return sizes

    def add(self, size: int) -> None:
        self.counts[size] += 1

    @property
    def batches(self) -> int:
        return sum(self.counts.values())

    @property
    def mean(self) -> float:
        total = self.batches
        return sum(s * n for s, n in self.counts.items()) / total if total else 0.0

    def percentile(self, p: float) -> int:
        """The batch size at or under which ``p`` percent of the batches were."""
        return percentile_of(self.counts, p)


def percentile_of(counts: Counter[int], p: float) -> int:
    total = sum(counts.values())
    if not total:
        return 0
    seen = 0
    for size in sorted(counts):
        seen += counts[size]
        if seen * 100 >= p * total:
            return size
    return max(counts)


class BatchSizesCollector(Collector):
    """``oms_consumer_batches{queue, size}``: batches handled per size, per consumer."""

    def __init__(self, sizes: Callable[[], Iterable[BatchSizes]]) -> None:
        self._sizes = sizes

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "oms_consumer_batches",
            "Batches a consumer handled in one transaction, by how many deliveries they held.",
            labels=["queue", "size"],
        )
        for sizes in self._sizes():
            for size, count in sorted(sizes.counts.items()):
                family.add_metric([sizes.queue, str(size)], count)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())


@contextlib.contextmanager
def one_of_batch(incoming: Incoming) -> Iterator[None]:
    """Handle one message of a batch in its own context: its ids on the log lines,
    and the trace it was received in (what it sends is that trace's child)."""
    bind_context(
        correlation_id=incoming.envelope.correlation_id, message_id=incoming.envelope.message_id
    )
    with within(incoming.trace):
        yield


@dataclass
class _Waiting:
    delivery: Delivery
    incoming: Incoming
    done: asyncio.Future[None]


class Batcher:
    """Forms the batches of one consumer and settles them (see the module)."""

    def __init__(
        self,
        batching: Batching,
        handle_batch: BatchHandler,
        handle_one: OneHandler,
        ack_all: AckAll,
        sizes: BatchSizes,
    ) -> None:
        self._batching = batching
        self._handle_batch = handle_batch
        self._handle_one = handle_one
        self._ack_all = ack_all
        self.sizes = sizes
        self._waiting: list[_Waiting] = []
        self._running: Counter[str] = Counter()
        """Correlation ids in the batches running now."""
        self._lanes_busy = 0
        self._former: asyncio.Task[None] | None = None
        self._enough = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, delivery: Delivery, incoming: Incoming) -> None:
        """Queue an admitted delivery for a batch; returns once it is settled (or
        raises what settling it raised)."""
        waiting = _Waiting(delivery, incoming, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self._batching.size:
            self._enough.set()
        self._form_soon()
        await waiting.done

    def _form_soon(self) -> None:
        if self._former is None or self._former.done():
            self._former = asyncio.create_task(self._form())

    async def _form(self) -> None:
        while self._waiting and self._lanes_busy < self._batching.lanes:
            linger = self._batching.linger
            if linger and len(self._waiting) < self._batching.size:
                self._enough.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(linger):
                        await self._enough.wait()
            batch = self._take()
            if not batch:
                return  # all wait for a running batch of their correlation id
            self._lanes_busy += 1
            self._running.update(w.incoming.envelope.correlation_id for w in batch)
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Waiting]:
        taken: list[_Waiting] = []
        held: list[_Waiting] = []
        held_back: set[str] = set()
        for waiting in self._waiting:
            key = waiting.incoming.envelope.correlation_id
            if (
                len(taken) < self._batching.size
                and key not in self._running
                and (key not in held_back)
            ):
                taken.append(waiting)
            else:
                held_back.add(key)  # what follows of this saga waits behind it
                held.append(waiting)
        self._waiting = held
        return taken

    async def _run(self, batch: list[_Waiting]) -> None:
        handed_off = False
        try:
            handed_off = await self._settle(batch)
        finally:
            if not handed_off:
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_result(None)
            self._running.subtract(w.incoming.envelope.correlation_id for w in batch)
            self._running += Counter()  # drop the zeros
            self._lanes_busy -= 1
            self._form_soon()

    async def _settle(self, batch: list[_Waiting]) -> bool:
        """Handle and settle ``batch``; True when its deliveries were handed off to be
        handled apart, each settling when it is done."""
        self.sizes.add(len(batch))
        try:
            await self._handle_batch([w.incoming for w in batch])
        except BatchRefused:
            self._apart(batch)
            return True
        except Exception as exc:
            if len(batch) == 1:  # handled again alone: it may have been a passing failure
                await self._one(batch[0])
                return False
            log.warning(
                "batch.one_by_one",
                queue=batch[0].delivery.queue,
                size=len(batch),
                error=f"{type(exc).__name__}: {exc}",
            )
            for waiting in batch:
                await self._one(waiting)
            return False
        try:
            await self._ack_all([w.delivery for w in batch])
        except Exception as exc:  # the channel went away: the broker redelivers them
            for waiting in batch:
                if not waiting.done.done():  # its consumer may be cancelled already
                    waiting.done.set_exception(exc)
        return False

    def _apart(self, batch: list[_Waiting]) -> None:
        """Handle a refused batch's deliveries as unbatched ones are, at once and
        without holding the lane (a delayed one holds up nothing else); those of one
        correlation id one after the other, in the order they came."""
        groups: dict[str, list[_Waiting]] = {}
        for waiting in batch:
            groups.setdefault(waiting.incoming.envelope.correlation_id, []).append(waiting)
        for group in groups.values():
            task = asyncio.create_task(self._in_turn(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _in_turn(self, group: list[_Waiting]) -> None:
        for waiting in group:
            await self._one(waiting)
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def _one(self, waiting: _Waiting) -> None:
        try:
            with one_of_batch(waiting.incoming):  # its own ids, not the last batch's
                await self._handle_one(waiting.delivery, waiting.incoming)
        except Exception as exc:
            if not waiting.done.done():
                waiting.done.set_exception(exc)
