"""What ``oms saga export`` derives from a saga without asking the system."""

from __future__ import annotations

import pytest

from oms.scenario.export import replay_timeout


@pytest.mark.parametrize(
    ("took", "timeout"),
    [
        ("00:00:01", 30),  # a quick saga: a scenario's default
        ("00:01:40", 210),  # 100 s: twice that, and ten seconds more
        ("01:00:00", 600),  # an hour (an ops retry much later): a scenario's most
    ],
)
def test_an_exported_timeout_comes_from_the_sagas_own_duration(took: str, timeout: int) -> None:
    hours, minutes, seconds = (int(part) for part in took.split(":"))
    saga = {
        "createdAt": "2026-12-06T08:00:00+00:00",
        "updatedAt": f"2026-12-06T{8 + hours:02d}:{minutes:02d}:{seconds:02d}+00:00",
    }

    assert replay_timeout(saga) == timeout
