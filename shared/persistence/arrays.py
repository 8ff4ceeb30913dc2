"""Rows written from arrays, one array parameter per column (PostgreSQL).

A statement that takes its rows from ``unnest`` of one array per column has the
same text whatever the number of rows, so it is prepared once; several such
parts, each a data-modifying ``WITH`` query, write several tables in one
statement and one round trip.  All the parts of one statement run, whether or
not its final ``SELECT`` reads them, and see the same snapshot, so no two parts
of one statement may touch the same row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Table

Columns = tuple[tuple[str, str], ...]
"""Column names with their PostgreSQL types (``json`` goes as text and is cast)."""


@dataclass(frozen=True)
class Part:
    """The rows of one part of a statement: ``name`` prefixes its parameters
    (``:name_column``, one array each) and names its relation."""

    name: str
    columns: Columns

    @property
    def relation(self) -> str:
        """The rows as a relation of their columns, in the order they were given
        (``n``)."""
        arrays = ", ".join(
            f"CAST(:{self.name}_{column} AS {'text' if kind == 'json' else kind}[])"
            for column, kind in self.columns
        )
        names = ", ".join(column for column, _ in self.columns)
        return f"unnest({arrays}) WITH ORDINALITY AS {self.name}({names}, n)"

    @classmethod
    def of(cls, table: Table, columns: Sequence[str], *, name: str | None = None) -> Part:
        """The part inserting ``columns`` of ``table``, each with the type the table
        declares, named ``name`` (else after the table)."""
        kinds = tuple((column, _kind(table.c[column].type)) for column in columns)
        return cls(name or table.name, kinds)

    def value(self, column: str) -> str:
        """``column`` of a row, as the table takes it."""
        kind = dict(self.columns)[column]
        return f"CAST({self.name}.{column} AS json)" if kind == "json" else f"{self.name}.{column}"

    def insert(self, table: str, *, then: str = "") -> str:
        """A ``WITH`` query named ``<name>_rows`` inserting the rows into ``table``
        in their order, ``then`` after it (``ON CONFLICT …``, ``RETURNING …``)."""
        names = ", ".join(column for column, _ in self.columns)
        values = ", ".join(self.value(column) for column, _ in self.columns)
        return (
            f"{self.name}_rows AS (INSERT INTO {table} ({names}) "
            f"SELECT {values} FROM {self.relation} ORDER BY {self.name}.n {then})"
        )

    def parameters(self, rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
        """The part's parameters from ``rows`` (column values by name): JSON
        serialised, timestamps in UTC."""
        values: dict[str, list[Any]] = {}
        for column, kind in self.columns:
            array = [row[column] for row in rows]
            if kind == "json":
                array = [json.dumps(value) for value in array]
            elif kind == "timestamptz":
                array = [_utc(value) for value in array]
            values[f"{self.name}_{column}"] = array
        return values


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _kind(column_type: Any) -> str:
    """PostgreSQL's name for a column's type, as a parameter array is cast to it."""
    impl = getattr(column_type, "impl", column_type)  # a TypeDecorator's own type
    for sqlalchemy_type, name in (
        (BigInteger, "bigint"),
        (Integer, "integer"),
        (Boolean, "boolean"),
        (DateTime, "timestamptz"),
        (JSON, "json"),
        (LargeBinary, "bytea"),
        (String, "text"),
    ):
        if isinstance(impl, sqlalchemy_type):
            return name
    raise TypeError(f"no array type for {column_type!r}")
