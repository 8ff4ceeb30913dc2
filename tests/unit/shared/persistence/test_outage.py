"""A transaction the database cut is run again while the database is away, and
only then: any other failure is raised at once."""

from __future__ import annotations

import pytest

from shared.persistence.database import with_hosts_in_query
from shared.persistence.outage import through_outage


def test_hosts_listed_as_libpq_does_become_the_dialects_host_parameters() -> None:
    url = "postgresql+asyncpg://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write"
    assert with_hosts_in_query(url) == (
        "postgresql+asyncpg://u:p@/db?host=h1:5432&host=h2:5433&target_session_attrs=read-write"
    )
    assert with_hosts_in_query("postgresql+asyncpg://u@h1,h2/db") == (
        "postgresql+asyncpg://u@/db?host=h1:5432&host=h2:5432"
    )


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://u@h1:5432/db", "sqlite+aiosqlite:///data/a,b.db"]
)
def test_a_url_with_one_host_is_left_as_it_is(url: str) -> None:
    assert with_hosts_in_query(url) == url


async def test_a_lost_connection_is_tried_again_until_the_database_answers() -> None:
    tries: list[int] = []

    async def cut_twice() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionResetError("the primary went away")
        return "committed"

    assert await through_outage(cut_twice, patience=30) == "committed"
    assert len(tries) == 3


async def test_a_failure_that_is_no_outage_is_raised_at_once() -> None:
    tries: list[int] = []

    async def broken() -> None:
        tries.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await through_outage(broken, patience=30)
    assert len(tries) == 1


async def test_an_outage_longer_than_the_patience_is_raised() -> None:
    tries: list[int] = []

    async def down() -> None:
        tries.append(1)
        raise ConnectionRefusedError("nobody home")

    with pytest.raises(ConnectionRefusedError):
        await through_outage(down, patience=0.5)
    assert 1 < len(tries) < 5
