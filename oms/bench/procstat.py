"""CPU seconds and resident memory of processes, read from ``/proc``.

A benchmark names groups of processes (``saga``, ``rabbitmq``, ``postgres:orders``)
and a :class:`CpuMeter` samples them while the load runs: a process seen at the
first sample counts from that sample, one that appears later (a database backend
opened mid-run) counts from zero, and one that disappears keeps its last sample.
So every CPU second spent inside the window lands in exactly one group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of ``pid`` so far, or None if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid``, or None if it is gone."""
    try:
        pages = int((PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * PAGE_SIZE


def wakeups(pid: int) -> int | None:
    """Context switches of every thread of ``pid`` so far (voluntary: it waited and
    was woken; involuntary: it was preempted), or None if it is gone."""
    total = 0
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total


def pids_named(name: str) -> list[int]:
    """Every process whose command name (``/proc/PID/comm``) is ``name``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return sorted(found)


PidSource = Callable[[], Iterable[int]]
"""Returns the processes of a group now (they may change between samples)."""


@dataclass
class _Group:
    source: PidSource
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def sample(self, *, initial: bool) -> None:
        for pid in self.source():
            used = cpu_seconds(pid)
            if used is None:
                continue
            if pid not in self.first:
                self.first[pid] = used if initial else 0.0
            self.last[pid] = used

    def used(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class CpuMeter:
    """CPU seconds spent by named groups of processes between :meth:`start` and :meth:`stop`.

    Call :meth:`sample` every second or so in between, so processes that come
    and go during the run are counted."""

    def __init__(self, groups: dict[str, PidSource]) -> None:
        self._groups = {name: _Group(source) for name, source in groups.items()}

    def start(self) -> None:
        for group in self._groups.values():
            group.sample(initial=True)

    def sample(self) -> None:
        for group in self._groups.values():
            group.sample(initial=False)

    def stop(self) -> dict[str, float]:
        """CPU seconds per group over the window."""
        self.sample()
        return {name: group.used() for name, group in self._groups.items()}


def wakeups_of(groups: dict[str, PidSource], names: Iterable[str]) -> dict[str, int]:
    """Context switches so far, summed per group, of the groups ``names``."""
    return {name: sum(wakeups(pid) or 0 for pid in groups[name]()) for name in names}


def rss_of(groups: dict[str, PidSource]) -> dict[str, int]:
    """Summed resident set size per group, in bytes."""
    return {name: sum(rss_bytes(pid) or 0 for pid in source()) for name, source in groups.items()}
