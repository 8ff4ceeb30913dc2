"""A revision's table text: each line read to the column it names, and a wrong
line refused where the table is written, not when a database is migrated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.persistence.revisions import ColumnLine, NewTable, column


def test_a_column_line_gives_its_type_nullability_marks_and_reference() -> None:
    line = ColumnLine.read("order_id  string(36)?  key index  -> orders.id")

    assert (line.name, line.nullable, line.marks, line.references) == (
        "order_id",
        True,
        frozenset({"key", "index"}),
        "orders.id",
    )
    built = line.column()
    assert isinstance(built.type, sa.String)
    assert built.type.length == 36
    assert built.nullable is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("string", sa.String),
        ("bigint", sa.BigInteger),
        ("bytes", sa.LargeBinary),
        ("json", sa.JSON),
        ("boolean", sa.Boolean),
        ("float", sa.Float),
    ],
)
def test_each_type_word_names_its_sql_type(text: str, expected: type) -> None:
    built = column(f"c {text}")

    assert type(built.type) is expected
    assert built.nullable is False


def test_time_is_a_timestamp_with_its_time_zone() -> None:
    built = column("at time")

    assert isinstance(built.type, sa.DateTime)
    assert built.type.timezone is True


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("lonely", "name type"),
        ("c strin(20)", "unknown column type"),
        ("c string(20) primary", "unknown marks"),
        ("c integer -> a.b extra", "followed by one"),
        ("c integer ->", "followed by one"),
    ],
)
def test_a_wrong_line_is_refused_when_the_table_is_written(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        NewTable("t", f"id integer key\n{line}\n")


def test_an_added_column_takes_no_marks() -> None:
    with pytest.raises(ValueError, match="no marks"):
        column("c integer index")


def test_marked_and_named_indexes_are_named_and_listed_in_order() -> None:
    table = NewTable(
        "orders",
        "id string(36) key\nuser_id string(36) index\ncreated_at time index\n",
        indexes={"ix_orders_newest": "created_at id"},
    )

    assert table.all_indexes() == {
        "ix_orders_user_id": ["user_id"],
        "ix_orders_created_at": ["created_at"],
        "ix_orders_newest": ["created_at", "id"],
    }
