"""The staging table: each chunk of parsed rows streamed in by COPY, then checked in SQL.

`import_staging` is a temporary table holding every row of the file with its
status; the checks mark its rows set-based: repeats of an earlier row of the
file (`card_twice`, `phone_twice`), cards and phones already in the database,
and, under `on_conflict="update"`, the existing holders to refresh, which are
updated here. What stays `ok` is for the inserter; the report reads the rest.
"""

from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

# The order of RowParser's tuples (`parsing.RowParser`), which COPY writes as they are.
STAGING_COLUMNS = (
    "row_no",
    "card_number",
    "phone",
    "full_name",
    "email",
    "birth_date",
    "issued_at",
    "outlet_id",
    "balance",
    "expires_at",
    "problems",
    "status",
    "maybe_repeat",
)

_STAGING_DDL = """
    CREATE TEMP TABLE import_staging (
        row_no integer PRIMARY KEY, card_number varchar(13), phone varchar(16),
        full_name varchar(200) NOT NULL, email varchar(254) NOT NULL, birth_date date,
        issued_at timestamptz, outlet_id bigint, balance bigint NOT NULL,
        expires_at timestamptz, problems text, status varchar(10) NOT NULL,
        maybe_repeat boolean NOT NULL, conflict varchar(30), conflict_row integer,
        member_id bigint
    )
"""
# The first row of the file with a card (or phone): later rows point to it.
_STAGING_INDEXES = (
    "CREATE INDEX import_staging_card ON import_staging (card_number, row_no) "
    "WHERE problems IS NULL",
    "CREATE INDEX import_staging_phone ON import_staging (phone, row_no) "
    "WHERE problems IS NULL AND phone IS NOT NULL",
)
# Local buffers for the staging table (PostgreSQL's default is 8 MB); settable only
# before the session's first temporary table.
STAGING_BUFFERS = "256MB"


def staging_create(cursor: Any) -> None:
    # A temporary table lives as long as the connection: start from a fresh one.
    cursor.execute("DROP TABLE IF EXISTS import_staging")
    try:
        with transaction.atomic():
            cursor.execute(f"SET temp_buffers = '{STAGING_BUFFERS}'")
    except DatabaseError:
        pass  # this connection used a temporary table before: keep its buffers
    cursor.execute(_STAGING_DDL)
    for ddl in _STAGING_INDEXES:
        cursor.execute(ddl)


def staging_drop(cursor: Any) -> None:
    cursor.execute("DROP TABLE import_staging")


@dataclass
class Chunk:
    """Consecutive rows of the file, checked and formatted for the staging table."""

    first_row: int
    last_row: int
    rows: int
    data: str  # COPY text

    @classmethod
    def of_rows(cls, rows: list[tuple[Any, ...]]) -> "Chunk":
        """`rows`: parsed rows (`parsing.RowParser`), in the file's order."""
        return cls(rows[0][0], rows[-1][0], len(rows), "".join(map(_copy_line, rows)))


def chunk_stage(cursor: Any, chunk: Chunk) -> None:
    with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
        copy.write(chunk.data)


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple[Any, ...]) -> str:
    """One staging row in COPY's text format; the columns' types are known, so no
    per-value type tests (a third of the cost of psycopg's write_row)."""
    (number, card, phone, name, email, born, issued, outlet, balance, expires, problems,
     status, maybe_repeat) = row  # fmt: skip
    return (
        f"{number}\t{card or NULL}\t{phone or NULL}\t{name.translate(_COPY_ESCAPES)}\t"
        f"{email.translate(_COPY_ESCAPES)}\t{born.isoformat() if born else NULL}\t"
        f"{issued.isoformat() if issued else NULL}\t{NULL if outlet is None else outlet}\t"
        f"{balance}\t{expires.isoformat() if expires else NULL}\t"
        f"{problems.translate(_COPY_ESCAPES) if problems else NULL}\t{status}\t"
        f"{'t' if maybe_repeat else 'f'}\n"
    )


NULL = "\\N"


def duplicates_mark(cursor: Any, chunk: Chunk) -> None:
    """A card (or phone) seen on an earlier valid row of the file: that row keeps it.
    Phones are compared after cards, among the rows that are not a card's repeat."""
    for sql in (_CARD_REPEATS_SQL, _PHONE_REPEATS_SQL):
        cursor.execute(sql, [chunk.first_row, chunk.last_row])


_CARD_REPEATS_SQL = (
    "UPDATE import_staging SET status = 'error', conflict = 'card_twice', "
    "  conflict_row = d.first_row "
    "FROM (SELECT c.row_no, (SELECT MIN(e.row_no) FROM import_staging e "
    "        WHERE e.card_number = c.card_number AND e.problems IS NULL) AS first_row "
    "      FROM import_staging c "
    "      WHERE c.row_no BETWEEN %s AND %s AND c.status = 'ok' AND c.maybe_repeat) d "
    "WHERE import_staging.row_no = d.row_no AND d.first_row < d.row_no"
)
_PHONE_REPEATS_SQL = (
    "UPDATE import_staging SET status = 'error', conflict = 'phone_twice', "
    "  conflict_row = d.first_row "
    "FROM (SELECT c.row_no, (SELECT MIN(e.row_no) FROM import_staging e "
    "        WHERE e.phone = c.phone AND e.problems IS NULL "
    "        AND (e.conflict IS NULL OR e.conflict <> 'card_twice')) AS first_row "
    "      FROM import_staging c "
    "      WHERE c.row_no BETWEEN %s AND %s AND c.status = 'ok' AND c.maybe_repeat "
    "      AND c.phone IS NOT NULL) d "
    "WHERE import_staging.row_no = d.row_no AND d.first_row < d.row_no"
)


def conflicts_mark(cursor: Any, chunk: Chunk, on_conflict: str) -> None:
    """Rows whose card or phone is already in the database (from before this import:
    the rows it created were earlier rows of the file, found as repeats above)."""
    status = {"skip": "skipped", "update": "existing", "fail": "conflict"}[on_conflict]
    cursor.execute(
        "UPDATE import_staging SET status = %s, conflict = 'card_exists' "
        "WHERE row_no BETWEEN %s AND %s AND status = 'ok' AND EXISTS "
        "(SELECT 1 FROM members_card c WHERE c.number = import_staging.card_number)",
        [status, chunk.first_row, chunk.last_row],
    )
    cursor.execute(
        "UPDATE import_staging SET status = %s, conflict = 'phone_exists' "
        "WHERE row_no BETWEEN %s AND %s AND status = 'ok' AND phone IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM members_member m WHERE m.phone = import_staging.phone)",
        ["conflict" if on_conflict == "fail" else "skipped", chunk.first_row, chunk.last_row],
    )


def conflicts_found(cursor: Any, chunk: Chunk) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM import_staging "
        "WHERE row_no BETWEEN %s AND %s AND status = 'conflict')",
        [chunk.first_row, chunk.last_row],
    )
    return bool(cursor.fetchone()[0])


def holders_update(cursor: Any, chunk: Chunk) -> None:
    """`--on-conflict update`: refresh the holders of existing cards where the file differs.

    Name, email and birth date only (an empty cell keeps what we hold). A row
    whose phone belongs to someone else than the card's holder is skipped.
    """
    statements = (
        "UPDATE import_staging SET member_id = c.member_id FROM members_card c "
        "WHERE c.number = import_staging.card_number "
        "AND import_staging.row_no BETWEEN %s AND %s AND import_staging.status = 'existing'",
        "UPDATE import_staging SET status = 'skipped', conflict = 'card_without_holder' "
        "WHERE row_no BETWEEN %s AND %s AND status = 'existing' AND member_id IS NULL",
        "UPDATE import_staging SET status = 'skipped', conflict = 'phone_other_member' "
        "WHERE row_no BETWEEN %s AND %s AND status = 'existing' "
        "AND phone IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM members_member m WHERE m.phone = import_staging.phone "
        "  AND m.id <> import_staging.member_id)",
        "UPDATE import_staging SET status = 'updated' FROM members_member m "
        "WHERE m.id = import_staging.member_id "
        "AND import_staging.row_no BETWEEN %s AND %s AND import_staging.status = 'existing' "
        "AND ("
        "  (import_staging.full_name <> '' AND import_staging.full_name <> m.full_name) OR "
        "  (import_staging.email <> '' AND import_staging.email <> m.email) OR "
        "  (import_staging.birth_date IS NOT NULL AND "
        "   (m.birth_date IS NULL OR import_staging.birth_date <> m.birth_date)))",
        "UPDATE import_staging SET status = 'skipped', conflict = 'unchanged' "
        "WHERE row_no BETWEEN %s AND %s AND status = 'existing'",
    )
    for sql in statements:
        cursor.execute(sql, [chunk.first_row, chunk.last_row])
    cursor.execute(
        "UPDATE members_member SET "
        "  full_name = CASE WHEN s.full_name <> '' "
        "    THEN s.full_name ELSE members_member.full_name END, "
        "  email = CASE WHEN s.email <> '' THEN s.email ELSE members_member.email END, "
        "  birth_date = COALESCE(s.birth_date, members_member.birth_date) "
        "FROM import_staging s WHERE s.member_id = members_member.id AND s.status = 'updated' "
        "AND s.row_no BETWEEN %s AND %s",
        [chunk.first_row, chunk.last_row],
    )
