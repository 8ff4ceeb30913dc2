'''The tables revisions create, each written once as text, one column a line:
the revision creates it from that text and, undone, drops it (indexes first, in
the reverse order), so the two directions cannot disagree.

    GIFT_NOTES = NewTable(
        "gift_notes",
        """
        order_id   string(36)    key  -> orders.id
        message    string(500)
        signed_by  string(100)?
        written    time          index
        """,
    )
    upgrade, downgrade = creating(GIFT_NOTES)

A column line is ``name type [marks]``:

* ``type``: ``string`` or ``string(N)``, ``integer``, ``bigint``, ``float``,
  ``boolean``, ``json``, ``bytes``, ``time`` (a timestamp with its time zone); a
  ``?`` after it makes the column nullable (without, ``NOT NULL``);
* ``marks``: ``key`` (part of the primary key, in column order), ``unique``,
  ``index`` (named ``ix_<table>_<column>``), ``-> table.column`` (a foreign key).

Indexes over several columns or under another name go in ``indexes``, unique
constraints with a name in ``uniques``, CHECK constraints in ``checks``, each by
name.  The text is the revision: it is read into the same ``op.create_table`` call
every time, so a released table never changes (a later change is a new revision).
'''

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from alembic import op

_TYPES: Mapping[str, Callable[[], Any]] = MappingProxyType(
    {
        "integer": sa.Integer,
        "bigint": sa.BigInteger,
        "float": sa.Float,
        "boolean": sa.Boolean,
        "json": sa.JSON,
        "bytes": sa.LargeBinary,
        "time": lambda: sa.DateTime(timezone=True),
    }
)
_MARKS = frozenset({"key", "unique", "index"})


@dataclass(frozen=True)
class ColumnLine:
    """One line of a table's text, read."""

    name: str
    type: str
    nullable: bool
    marks: frozenset[str]
    references: str | None

    @classmethod
    def read(cls, line: str) -> ColumnLine:
        words = line.split()
        if len(words) < 2:
            raise ValueError(f"a column line is 'name type [marks]': {line!r}")
        name, kind, *rest = words
        references = None
        if "->" in rest:
            at = rest.index("->")
            if at != len(rest) - 2:
                raise ValueError(f"'->' is followed by one table.column: {line!r}")
            references = rest[at + 1]
            rest = rest[:at]
        unknown = set(rest) - _MARKS
        if unknown:
            raise ValueError(f"unknown marks {sorted(unknown)} in {line!r}")
        nullable = kind.endswith("?")
        kind = kind.removesuffix("?")
        column = cls(name, kind, nullable, frozenset(rest), references)
        column.sql_type()  # an unknown type fails where the table is written
        return column

    def sql_type(self) -> Any:
        if self.type == "string":
            return sa.String()
        if self.type.startswith("string(") and self.type.endswith(")"):
            return sa.String(int(self.type[len("string(") : -1]))
        if self.type not in _TYPES:
            raise ValueError(f"unknown column type {self.type!r} (of {self.name!r})")
        return _TYPES[self.type]()

    def column(self) -> sa.Column[Any]:
        return sa.Column(self.name, self.sql_type(), nullable=self.nullable)


def column(line: str) -> sa.Column[Any]:
    """The column of one line (``op.add_column``'s); marks have no place there."""
    read = ColumnLine.read(line)
    if read.marks or read.references:
        raise ValueError(f"an added column takes no marks: {line!r}")
    return read.column()


@dataclass(frozen=True)
class NewTable:
    """A table a revision creates: its columns as text (see the module's note)."""

    name: str
    text: str
    indexes: Mapping[str, str] = field(default_factory=dict)
    """Further indexes: name to its columns, space-separated, in order."""
    uniques: Mapping[str, str] = field(default_factory=dict)
    """Named unique constraints: name to its columns, space-separated."""
    checks: Mapping[str, str] = field(default_factory=dict)
    """CHECK constraints: name to the SQL condition."""

    def __post_init__(self) -> None:
        self.columns()  # a wrong line fails on import, not when migrating

    def columns(self) -> list[ColumnLine]:
        return [ColumnLine.read(line) for line in self.text.splitlines() if line.strip()]

    def all_indexes(self) -> dict[str, list[str]]:
        marked = {
            f"ix_{self.name}_{c.name}": [c.name] for c in self.columns() if "index" in c.marks
        }
        return marked | {name: columns.split() for name, columns in self.indexes.items()}

    def create(self) -> None:
        lines = self.columns()
        # Constraints in the order their SQL lists them: the primary key, CHECK and
        # named unique ones, then each column's own.
        constraints: list[sa.Constraint] = [
            sa.PrimaryKeyConstraint(*(c.name for c in lines if "key" in c.marks)),
            *(sa.CheckConstraint(sql, name=name) for name, sql in self.checks.items()),
            *(sa.UniqueConstraint(*cols.split(), name=name) for name, cols in self.uniques.items()),
        ]
        for line in lines:
            if "unique" in line.marks:
                constraints.append(sa.UniqueConstraint(line.name))
            if line.references:
                constraints.append(sa.ForeignKeyConstraint([line.name], [line.references]))
        op.create_table(self.name, *(c.column() for c in lines), *constraints)
        for name, columns in self.all_indexes().items():
            op.create_index(name, self.name, columns)

    def drop(self) -> None:
        for name in reversed(self.all_indexes()):
            op.drop_index(name, table_name=self.name)
        op.drop_table(self.name)


def creating(*tables: NewTable) -> tuple[Callable[[], None], Callable[[], None]]:
    """A revision's ``upgrade`` and ``downgrade`` that create ``tables`` in order and
    drop them in the reverse order."""

    def upgrade() -> None:
        for table in tables:
            table.create()

    def downgrade() -> None:
        for table in reversed(tables):
            table.drop()

    return upgrade, downgrade
