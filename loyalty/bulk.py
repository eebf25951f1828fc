"""Set-based inserts of many rows whose references are checked once for all of them.

PostgreSQL checks a foreign key with a trigger per inserted row, queued until the commit
(Django declares them deferred): for the million members of a legacy import that is ten
million lookups one at a time, longer than the inserts themselves. Here the references are
checked set-based instead: each referenced table is asked once for the ids that are
missing (there must be none) and locks the ones it has, FOR KEY SHARE as the triggers
would, so none can be deleted before the commit; then the inserts run with the per-row
triggers off (`session_replication_role = replica`). That needs a role allowed to set it (a
superuser); any other role gets the triggers, slower, with the same result.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError

# Referenced tables, by name: the checks are built from these names only.
TABLES = frozenset(
    {"members_member", "members_card", "partners_partner", "partners_outlet", "loyalty_account"}
)


_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    """A column of a table of this transaction (a chunk's temporary table): many values
    named without carrying them through Python."""

    table: str
    name: str
    # Ids of rows the block inserts from this very column before referencing them: they
    # exist by construction, and no other transaction sees them to delete them.
    inserted_here: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not (_NAME.match(self.table) and _NAME.match(self.name)):
            raise ValueError(f"not a plain name: {self.table}.{self.name}")

    def select(self) -> str:
        return f"SELECT {self.name} FROM {self.table} WHERE {self.name} IS NOT NULL"  # noqa: S608


Ids = Sequence[int | None] | Column


# The references checked by the blocks the current one is inside: a nested block (the
# ledger's, inside an import's) checks only what they did not.
_checked: ContextVar[frozenset[tuple[str, Column]]] = ContextVar("checked", default=frozenset())


@contextmanager
def references_checked(cursor: Any, references: Sequence[tuple[str, Ids]]) -> Iterator[None]:
    """Inserts in the block may reference these `(table, ids)` rows without the per-row
    checks: all exist (IntegrityError otherwise) and stay until the commit."""
    outer = _checked.get()
    for table, ids in references:
        known = isinstance(ids, Column) and (ids.inserted_here or (table, ids) in outer)
        if not known:
            _exist_and_stay(cursor, table, ids)
    columns = {(table, ids) for table, ids in references if isinstance(ids, Column)}
    token = _checked.set(outer | columns)
    trusted = not outer and _may_skip_triggers(cursor)
    if trusted:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        _checked.reset(token)
        if trusted:
            cursor.execute("SET LOCAL session_replication_role = origin")


def _may_skip_triggers(cursor: Any) -> bool:
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return bool(cursor.fetchone()[0])


def _exist_and_stay(cursor: Any, table: str, ids: Ids) -> None:
    if table not in TABLES:
        raise ValueError(f"not a table references are checked in: {table}")
    if isinstance(ids, Column):
        wanted_sql, params = f"SELECT DISTINCT id FROM ({ids.select()}) AS wanted(id)", []  # noqa: S608
    else:
        wanted = sorted({pk for pk in ids if pk is not None})
        if not wanted:
            return
        wanted_sql, params = "SELECT unnest(%s::bigint[])", [wanted]
    cursor.execute(
        f"SELECT (SELECT count(*) FROM ({wanted_sql}) AS wanted), "  # noqa: S608 - names checked
        f"(SELECT count(*) FROM (SELECT id FROM {table} WHERE id IN ({wanted_sql}) "
        "ORDER BY id FOR KEY SHARE) AS kept)",
        params * 2,
    )
    wanted_count, kept = cursor.fetchone()
    if kept != wanted_count:
        raise IntegrityError(f"{table}: {wanted_count} rows referenced, {kept} exist")
