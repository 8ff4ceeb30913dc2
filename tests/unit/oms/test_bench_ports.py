"""Where a benchmark's components listen: every port of a system inside the
benchmark's range, clear of the ephemeral ports and of the test suite's blocks."""

from __future__ import annotations

from oms.bench.processes import PORT_RANGE, free_port_offset


def test_every_port_of_a_system_falls_inside_the_benchmarks_range() -> None:
    # The services and the saga, and two more saga processes 1000 and 2000 above.
    ports = [3001, 3002, 3003, 3004, 3005, 3020, 4020, 5020]
    low, high = PORT_RANGE
    offsets = [free_port_offset("127.0.0.1", ports) for _ in range(10)]
    taken = [port + offset for offset in offsets for port in ports]
    assert len(set(taken)) == len(taken)  # each port taken once stays taken
    for offset in offsets:
        assert all(low <= port + offset < high for port in ports), offset
