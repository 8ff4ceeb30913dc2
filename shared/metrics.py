"""Prometheus gauges read from a component's own tables when ``/metrics`` is scraped.

A count kept in memory starts again from zero with every restart and differs
between two processes sharing one database; a count read from the table is the
truth, whichever process is asked.  :class:`ScrapedGauge` runs its query (one
cheap ``GROUP BY``) before each scrape, as the app's ``/metrics`` route awaits
every registered refresh, and the registry's synchronous collection then reads
what it found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shared.logging import get_logger

log = get_logger(__name__)

Refresh = Callable[[], Awaitable[None]]
"""Awaited by ``/metrics`` before the registry is collected."""
Read = Callable[[], Awaitable[Mapping[str, float]]]
"""A gauge's query: the value of each label value."""


class ScrapedGauge(Collector):
    """A gauge with one label whose samples :meth:`refresh` reads from a table.

    Label values in ``always`` are reported even when the query finds none of
    them (as 0), so a board shows a line at zero instead of a gap.  When the
    query fails, the gauge is left out of that scrape (``absent()`` notices)
    rather than reporting numbers nobody read."""

    def __init__(
        self, name: str, documentation: str, label: str, read: Read, *, always: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._read = read
        self._always = tuple(always)
        self._values: Mapping[str, float] | None = None

    def register(self, registry: CollectorRegistry, refreshes: list[Refresh]) -> None:
        registry.register(self)
        refreshes.append(self.refresh)

    async def refresh(self) -> None:
        try:
            found = await self._read()
        except Exception as exc:  # a scrape must answer even with the database down
            log.warning("metrics.read_failed", metric=self.name, error=repr(exc))
            self._values = None
            return
        self._values = {**dict.fromkeys(self._always, 0), **found}

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation, labels=[self.label])]

    def collect(self) -> Iterator[Metric]:
        if self._values is None:
            return
        family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in sorted(self._values.items()):
            family.add_metric([value], count)
        yield family
