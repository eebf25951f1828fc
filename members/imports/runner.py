"""Import a legacy card base: members, cards and opening balances, all or nothing.

One pass in Python reads and checks each row and streams it into a staging
table (COPY on PostgreSQL). Everything else is set-based SQL over that table:
duplicates within the file, cards and phones already in the database, then
members, cards, their three ledger accounts, one `migration` transfer and one
lot per opening balance, inserted with ids taken from the sequences. The whole
run is one transaction: a crash or a refused conflict leaves nothing behind,
and `dry_run` rolls it back on purpose (no ids are taken from sequences then).

Re-importing a file changes nothing: its cards exist, so its rows are skipped
(or, with `on_conflict="update"`, their holders' names, emails and birth dates
are refreshed where they differ; balances are imported once, when the card is
created).
"""

import csv
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.ledger import Kind, system_account
from loyalty.program import points_expire_at, program_settings
from members.exports import cell_safe
from members.models import Card, Member
from members.services import REFERRAL_ALPHABET
from partners.models import Outlet
from partners.selectors import operator_partner

from . import fields as F
from .reader import Table, UnreadableFile, table_open

logger = logging.getLogger(__name__)

ON_CONFLICT = ("skip", "update", "fail")
LOAD_CHUNK = 5000
PROGRESS_EVERY = 10_000

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
    "referral_code",
    "problems",
    "status",
)


class ImportRefused(Exception):
    """The import stopped before writing anything; the message says why."""


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    points: int = 0  # opening balances imported (the total of the rows created)
    points_past_expiry: int = 0  # of those, points whose expiry date has already passed
    encoding: str = ""
    delimiter: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # source header -> field
    ignored_columns: list[str] = field(default_factory=list)
    report_path: Path | None = None
    dry_run: bool = False

    def lines(self) -> list[str]:
        counts = {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
        }
        if self.dry_run:
            outcome = _(
                "%(rows)d rows read: %(created)d would be created, %(updated)d would be "
                "updated, %(skipped)d skipped, %(errors)d with errors."
            )
        else:
            outcome = _(
                "%(rows)d rows read: %(created)d created, %(updated)d updated, "
                "%(skipped)d skipped, %(errors)d with errors."
            )
        lines = [
            outcome % counts,
            _("Opening balances: %(points)d points.") % {"points": self.points},
        ]
        if self.points_past_expiry:
            lines.append(
                _("%(points)d of them are past their expiry date and expire at the next run.")
                % {"points": self.points_past_expiry}
            )
        if self.ignored_columns:
            lines.append(
                _("Columns ignored: %(columns)s.") % {"columns": ", ".join(self.ignored_columns)}
            )
        if self.report_path is not None and (self.errors or self.skipped):
            lines.append(
                _("Report of skipped rows and errors: %(path)s") % {"path": self.report_path}
            )
        if self.dry_run:
            lines.append(_("Dry run: nothing was written."))
        return lines


def columns_map(headers: list[str], mapping: dict[str, str]) -> tuple[dict[int, str], list[str]]:
    """Which column holds which field: `mapping` (source header -> field) first, then the
    known header spellings. Returns {column index: field} and the ignored headers."""
    unknown = sorted(set(mapping.values()) - set(F.FIELDS))
    if unknown:
        raise UnreadableFile(
            _("Unknown field %(field)s; fields are: %(fields)s.")
            % {"field": ", ".join(unknown), "fields": ", ".join(F.FIELDS)}
        )
    by_key = {F.header_key(source): target for source, target in mapping.items()}
    found: dict[int, str] = {}
    ignored = []
    for index, header in enumerate(headers):
        target = by_key.get(F.header_key(header)) or F.ALIAS_INDEX.get(F.header_key(header))
        if target is None:
            if header:
                ignored.append(header)
            continue
        if target in found.values():
            raise UnreadableFile(
                _("Two columns hold %(field)s; map one of them with --map.") % {"field": target}
            )
        found[index] = target
    if "card_number" not in found.values():
        raise UnreadableFile(
            _('No card number column among: %(headers)s. Name it with --map "Header=card_number".')
            % {"headers": ", ".join(headers)}
        )
    return found, ignored


class RowParser:
    """Turns one file row into a staging tuple; cell problems are collected, not raised.

    Everything that does not change from row to row (the columns, the time
    zone, today, the outlets, the expiry of each issue date) is worked out
    once: this runs a million times.
    """

    def __init__(
        self, columns: dict[int, str], headers: list[str], outlets: dict[str, int], now: datetime
    ) -> None:
        program = program_settings()
        self.now = now
        self.tz = timezone.get_current_timezone()
        self.today = timezone.localdate(now)
        self.outlets = outlets
        self.codes = random.Random(secrets.randbits(64))
        self._expiry = lru_cache(maxsize=4096)(lambda moment: points_expire_at(program, moment))
        parsers: dict[str, Callable[[Any], Any]] = {
            "card_number": F.card_number_parse,
            "phone": F.phone_parse,
            "full_name": F.full_name_parse,
            "email": F.email_parse,
            "balance": F.points_parse,
            "issued_at": self._issued_at,
            "birth_date": self._birth_date,
            "outlet": self._outlet,
        }
        # (field, column index, header, parser) for the columns the file has.
        self.cells = [
            (name, index, headers[index], parsers[name]) for index, name in columns.items()
        ]

    def __call__(self, number: int, cells: list[Any]) -> tuple[Any, ...]:
        values: dict[str, Any] = {"full_name": "", "email": "", "balance": 0}
        problems = []
        width = len(cells)
        for name, index, header, parse in self.cells:
            raw = cells[index] if index < width else None
            try:
                values[name] = parse(raw)
            except F.CellError as error:
                problems.append([header, "" if raw is None else str(raw), str(error)])
        issued_at = values.get("issued_at")
        balance = values["balance"]
        return (
            number,
            values.get("card_number"),
            values.get("phone"),
            values["full_name"],
            values["email"],
            values.get("birth_date"),
            issued_at,
            values.get("outlet"),
            balance,
            self._expiry(issued_at or self.now) if balance else None,
            referral_code_draw(self.codes),
            json.dumps(problems, ensure_ascii=False) if problems else None,
            "error" if problems else "ok",
        )

    def _outlet(self, value: Any) -> int | None:
        key = str(value or "").strip().casefold()
        if not key:
            return None
        if key not in self.outlets:
            raise F.CellError(_("No such outlet (give its code or name)."))
        return self.outlets[key]

    def _birth_date(self, value: Any) -> date | None:
        parsed = F.date_parse(value)
        F.not_in_future(parsed, self.today)
        return parsed

    def _issued_at(self, value: Any) -> datetime | None:
        parsed = F.datetime_parse(value, self.tz)
        F.not_in_future(parsed.astimezone(self.tz).date() if parsed else None, self.today)
        return parsed


def referral_code_draw(codes: random.Random) -> str:
    """Eight characters of the referral alphabet from 40 random bits (5 bits each)."""
    bits = codes.getrandbits(40)
    return "".join(REFERRAL_ALPHABET[(bits >> shift) & 31] for shift in range(0, 40, 5))


def cards_import(
    path: Path,
    *,
    on_conflict: str = "skip",
    dry_run: bool = False,
    encoding: str = "auto",
    delimiter: str = "auto",
    mapping: dict[str, str] | None = None,
    report_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import `path` (CSV or XLSX); see the module's docstring. Raises ImportRefused or
    UnreadableFile with nothing written."""
    if on_conflict not in ON_CONFLICT:
        raise ImportRefused(_("on_conflict is one of: skip, update, fail."))
    now = now or timezone.now()
    stack: list[Any] = []
    try:
        table = table_open(path, encoding=encoding, delimiter=delimiter, stack=stack)
        columns, ignored = columns_map(table.headers, mapping or {})
        summary = ImportSummary(
            encoding=table.encoding,
            delimiter=table.delimiter,
            columns={table.headers[i]: name for i, name in columns.items()},
            ignored_columns=ignored,
            report_path=report_path,
            dry_run=dry_run,
        )
        with _phase("whole import, commit included"), transaction.atomic():
            try:
                _run(table, columns, summary, on_conflict, progress, now)
            except ImportRefused:
                # Refused on conflicts: the report says which rows, then nothing is kept.
                if report_path is not None:
                    _report_write(report_path)
                raise
            if report_path is not None:
                _report_write(report_path)
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE import_staging")
            if dry_run:
                transaction.set_rollback(True)
        return summary
    finally:
        for handle in stack:
            handle.close()


def _run(
    table: Table,
    columns: dict[int, str],
    summary: ImportSummary,
    on_conflict: str,
    progress: Callable[[int], None] | None,
    now: datetime,
) -> None:
    outlets: dict[str, int] = {}
    for outlet_id, code, name in Outlet.objects.values_list("id", "code", "name"):
        outlets.setdefault(name.casefold(), outlet_id)
        outlets[code.casefold()] = outlet_id
    parser = RowParser(columns, table.headers, outlets, now)
    with connection.cursor() as cursor:
        # A temporary table lives as long as the connection: start from a fresh one.
        cursor.execute("DROP TABLE IF EXISTS import_staging")
        cursor.execute(_STAGING_DDL[connection.vendor])
        with _phase("read, check and stage the rows"):
            summary.rows = _staging_load(cursor, _parsed_rows(table, parser, progress))
        with _phase("find duplicates and conflicts"):
            _duplicates_mark(cursor)
            _conflicts_mark(cursor, on_conflict)
        if on_conflict == "fail":
            cursor.execute("SELECT count(*) FROM import_staging WHERE status = 'conflict'")
            if cursor.fetchone()[0]:
                raise ImportRefused(
                    _(
                        "Cards or phones of this file already exist and --on-conflict is fail: "
                        "nothing was imported."
                    )
                )
        if on_conflict == "update":
            _holders_update(cursor)
        if not summary.dry_run:
            with _phase("draw referral codes and ids"):
                _referral_codes_unique(cursor, parser.codes)
                _ids_allocate(cursor)
            with _phase("insert members, cards, accounts, transfers and lots"):
                _rows_insert(cursor, now)
        _summary_fill(cursor, summary, now)


@contextmanager
def _phase(name: str) -> Iterator[None]:
    """Log how long a step took: an operator can see where a slow import spends its time."""
    started = time.perf_counter()
    yield
    logger.info("import_cards: %s took %.1f s", name, time.perf_counter() - started)


def _parsed_rows(
    table: Table, parser: RowParser, progress: Callable[[int], None] | None
) -> Iterator[tuple[Any, ...]]:
    count = 0
    try:
        for number, cells in table.rows:
            yield parser(number, cells)
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count)
    except UnicodeDecodeError:
        raise UnreadableFile(
            _(
                "The file is not in %(encoding)s after row %(row)d; give the encoding "
                "(for example --encoding cp1251)."
            )
            % {"encoding": table.encoding, "row": count + 1}
        ) from None
    except csv.Error as error:
        raise UnreadableFile(
            _("The CSV is broken after row %(row)d: %(error)s") % {"row": count + 1, "error": error}
        ) from None


_STAGING_DDL = {
    "postgresql": """
        CREATE TEMP TABLE import_staging (
            row_no integer PRIMARY KEY, card_number varchar(13), phone varchar(16),
            full_name varchar(200) NOT NULL, email varchar(254) NOT NULL, birth_date date,
            issued_at timestamptz, outlet_id bigint, balance bigint NOT NULL,
            expires_at timestamptz, referral_code varchar(12) NOT NULL, problems text,
            status varchar(10) NOT NULL, conflict varchar(30), conflict_row integer,
            member_id bigint, card_id bigint, available_id bigint, pending_id bigint,
            debt_id bigint, transfer_id bigint
        )
    """,
    "sqlite": """
        CREATE TEMP TABLE import_staging (
            row_no integer PRIMARY KEY, card_number text, phone text, full_name text NOT NULL,
            email text NOT NULL, birth_date text, issued_at text, outlet_id integer,
            balance integer NOT NULL, expires_at text, referral_code text NOT NULL,
            problems text, status text NOT NULL, conflict text, conflict_row integer,
            member_id integer, card_id integer, available_id integer, pending_id integer,
            debt_id integer, transfer_id integer
        )
    """,
}


def _staging_load(cursor: Any, rows: Iterator[tuple[Any, ...]]) -> int:
    """Stream the parsed rows into the staging table; returns how many."""
    count = 0
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
            lines = []
            for row in rows:
                lines.append(_copy_line(row))
                count += 1
                if len(lines) == LOAD_CHUNK:
                    copy.write("".join(lines))
                    lines = []
            copy.write("".join(lines))
        return count
    # SQLite (the demo): batches of inserts, values stored the way Django stores them.
    ops = connection.ops
    insert = (
        f"INSERT INTO import_staging ({', '.join(STAGING_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(STAGING_COLUMNS))})"
    )
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        values[5] = ops.adapt_datefield_value(values[5])
        values[6] = ops.adapt_datetimefield_value(values[6])
        values[9] = ops.adapt_datetimefield_value(values[9])
        chunk.append(tuple(values))
        count += 1
        if len(chunk) == LOAD_CHUNK:
            cursor.executemany(insert, chunk)
            chunk = []
    if chunk:
        cursor.executemany(insert, chunk)
    return count


# COPY's text format: backslash, tab, newline and carriage return are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple[Any, ...]) -> str:
    """One staging row in COPY's text format; the columns' types are known, so no
    per-value type tests (a third of the cost of psycopg's write_row)."""
    (number, card, phone, name, email, born, issued, outlet, balance, expires, code, problems,
     status) = row  # fmt: skip
    return (
        f"{number}\t{card or NULL}\t{phone or NULL}\t{name.translate(_COPY_ESCAPES)}\t"
        f"{email.translate(_COPY_ESCAPES)}\t{born.isoformat() if born else NULL}\t"
        f"{issued.isoformat() if issued else NULL}\t{NULL if outlet is None else outlet}\t"
        f"{balance}\t{expires.isoformat() if expires else NULL}\t{code}\t"
        f"{problems.translate(_COPY_ESCAPES) if problems else NULL}\t{status}\n"
    )


NULL = "\\N"


def _duplicates_mark(cursor: Any) -> None:
    """A card (or phone) seen earlier in the file: the first row keeps it."""
    for column, conflict in (("card_number", "card_twice"), ("phone", "phone_twice")):
        cursor.execute(_DUPLICATES_SQL.replace("{column}", column), [conflict])


_DUPLICATES_SQL = (
    "UPDATE import_staging SET status = 'error', conflict = %s, conflict_row = d.first_row "
    "FROM (SELECT row_no, MIN(row_no) OVER (PARTITION BY {column}) AS first_row "
    "      FROM import_staging WHERE status = 'ok' AND {column} IS NOT NULL) d "
    "WHERE import_staging.row_no = d.row_no AND d.row_no > d.first_row"
)


def _conflicts_mark(cursor: Any, on_conflict: str) -> None:
    """Rows whose card or phone is already in the database."""
    status = {"skip": "skipped", "update": "existing", "fail": "conflict"}[on_conflict]
    cursor.execute(
        "UPDATE import_staging SET status = %s, conflict = 'card_exists' "
        "WHERE status = 'ok' AND EXISTS "
        "(SELECT 1 FROM members_card c WHERE c.number = import_staging.card_number)",
        [status],
    )
    cursor.execute(
        "UPDATE import_staging SET status = %s, conflict = 'phone_exists' "
        "WHERE status = 'ok' AND phone IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM members_member m WHERE m.phone = import_staging.phone)",
        ["conflict" if on_conflict == "fail" else "skipped"],
    )


def _holders_update(cursor: Any) -> None:
    """`--on-conflict update`: refresh the holders of existing cards where the file differs.

    Name, email and birth date only (an empty cell keeps what we hold). A row
    whose phone belongs to someone else than the card's holder is skipped.
    """
    cursor.execute(
        "UPDATE import_staging SET member_id = c.member_id FROM members_card c "
        "WHERE c.number = import_staging.card_number AND import_staging.status = 'existing'"
    )
    cursor.execute(
        "UPDATE import_staging SET status = 'skipped', conflict = 'card_without_holder' "
        "WHERE status = 'existing' AND member_id IS NULL"
    )
    cursor.execute(
        "UPDATE import_staging SET status = 'skipped', conflict = 'phone_other_member' "
        "WHERE status = 'existing' AND phone IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM members_member m WHERE m.phone = import_staging.phone "
        "  AND m.id <> import_staging.member_id)"
    )
    cursor.execute(
        "UPDATE import_staging SET status = 'updated' FROM members_member m "
        "WHERE m.id = import_staging.member_id AND import_staging.status = 'existing' AND ("
        "  (import_staging.full_name <> '' AND import_staging.full_name <> m.full_name) OR "
        "  (import_staging.email <> '' AND import_staging.email <> m.email) OR "
        "  (import_staging.birth_date IS NOT NULL AND "
        "   (m.birth_date IS NULL OR import_staging.birth_date <> m.birth_date)))"
    )
    cursor.execute(
        "UPDATE import_staging SET status = 'skipped', conflict = 'unchanged' "
        "WHERE status = 'existing'"
    )
    cursor.execute(
        "UPDATE members_member SET "
        "  full_name = CASE WHEN s.full_name <> '' "
        "    THEN s.full_name ELSE members_member.full_name END, "
        "  email = CASE WHEN s.email <> '' THEN s.email ELSE members_member.email END, "
        "  birth_date = COALESCE(s.birth_date, members_member.birth_date) "
        "FROM import_staging s WHERE s.member_id = members_member.id AND s.status = 'updated'"
    )


def _referral_codes_unique(cursor: Any, codes: random.Random) -> None:
    """Draw again the few referral codes that collide within the file or with members."""
    while True:
        cursor.execute(
            "SELECT row_no FROM (SELECT row_no, row_number() OVER "
            "  (PARTITION BY referral_code ORDER BY row_no) AS nth "
            "  FROM import_staging WHERE status = 'ok') d WHERE nth > 1 "
            "UNION SELECT s.row_no FROM import_staging s "
            "JOIN members_member m ON m.referral_code = s.referral_code WHERE s.status = 'ok'"
        )
        clashes = [row[0] for row in cursor.fetchall()]
        if not clashes:
            return
        cursor.executemany(
            "UPDATE import_staging SET referral_code = %s WHERE row_no = %s",
            [(referral_code_draw(codes), row) for row in clashes],
        )


def _ids_allocate(cursor: Any) -> None:
    """Give each new row its member, card, account and transfer ids.

    PostgreSQL: from the tables' sequences, so purchases and card issues can
    insert beside the import. SQLite (one writer): after each table's largest id.
    """
    if connection.vendor == "postgresql":
        sequences = _sequences(cursor)
        # The sequence names are literals, so PostgreSQL resolves each once, not per row.
        cursor.execute(
            "UPDATE import_staging SET "  # noqa: S608 -- names read from pg_get_serial_sequence
            f"  member_id = nextval('{sequences['members_member']}'::regclass), "
            f"  card_id = nextval('{sequences['members_card']}'::regclass), "
            f"  available_id = nextval('{sequences['loyalty_account']}'::regclass), "
            f"  pending_id = nextval('{sequences['loyalty_account']}'::regclass), "
            f"  debt_id = nextval('{sequences['loyalty_account']}'::regclass), "
            "  transfer_id = CASE WHEN balance > 0 "
            f"    THEN nextval('{sequences['loyalty_transfer']}'::regclass) END "
            "WHERE status = 'ok'"
        )
        return
    bases = {}
    for table in ("members_member", "members_card", "loyalty_account", "loyalty_transfer"):
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        bases[table] = cursor.fetchone()[0]
    cursor.execute(
        "UPDATE import_staging SET member_id = %s + r.n, card_id = %s + r.n, "
        "  available_id = %s + 3 * r.n - 2, pending_id = %s + 3 * r.n - 1, "
        "  debt_id = %s + 3 * r.n, "
        "  transfer_id = CASE WHEN import_staging.balance > 0 THEN %s + r.n END "
        "FROM (SELECT row_no, row_number() OVER (ORDER BY row_no) AS n "
        "      FROM import_staging WHERE status = 'ok') r "
        "WHERE import_staging.row_no = r.row_no",
        [
            bases["members_member"],
            bases["members_card"],
            bases["loyalty_account"],
            bases["loyalty_account"],
            bases["loyalty_account"],
            bases["loyalty_transfer"],
        ],
    )


_SEQUENCE_NAME = re.compile(r"^[A-Za-z0-9_.\"]+$")


def _sequences(cursor: Any) -> dict[str, str]:
    """The id sequences of the tables the import fills (identity columns have them too)."""
    names = {}
    for table in ("members_member", "members_card", "loyalty_account", "loyalty_transfer"):
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        name = cursor.fetchone()[0]
        if not name or not _SEQUENCE_NAME.match(name):
            raise RuntimeError(f"unexpected sequence name {name!r}")
        names[table] = name
    return names


def _foreign_key_checks_set_based(cursor: Any, operator_id: int, migration_id: int) -> bool:
    """Skip PostgreSQL's per-row foreign key triggers for the inserts, when allowed.

    Every reference the inserts make is to a row created by the same
    statements, or to the operator, the migration account or an outlet of the
    file; those are locked here FOR KEY SHARE, as the triggers would lock
    them, so none can be deleted before this transaction commits. Checking
    five million references one trigger at a time took longer than inserting
    them. Needs a role allowed to set session_replication_role (a superuser);
    otherwise PostgreSQL checks each row, slower, with the same result.
    """
    if connection.vendor != "postgresql":
        return False
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SELECT id FROM partners_partner WHERE id = %s FOR KEY SHARE", [operator_id])
    cursor.execute("SELECT id FROM loyalty_account WHERE id = %s FOR KEY SHARE", [migration_id])
    cursor.execute(
        "SELECT o.id FROM partners_outlet o WHERE o.id IN "
        "(SELECT DISTINCT outlet_id FROM import_staging WHERE status = 'ok') FOR KEY SHARE"
    )
    cursor.execute(
        "SELECT count(*) FROM import_staging s WHERE s.status = 'ok' AND s.outlet_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM partners_outlet o WHERE o.id = s.outlet_id)"
    )
    if cursor.fetchone()[0]:
        raise ImportRefused(_("An outlet named in the file was deleted during the import."))
    cursor.execute("SET LOCAL session_replication_role = replica")
    return True


def _rows_insert(cursor: Any, now: datetime) -> None:
    """Members, cards, accounts, opening balance transfers and lots of the new rows."""
    ops = connection.ops
    moment = ops.adapt_datetimefield_value(now)
    operator = operator_partner()
    migration = system_account(Kind.MIGRATION)
    checks_deferred = _foreign_key_checks_set_based(cursor, operator.pk, migration.pk)
    cursor.execute(
        "INSERT INTO members_member (id, phone, email, full_name, birth_date, consent_email, "
        "  consent_sms, consent_push, status, referral_code, source, created_at) "
        "SELECT member_id, phone, email, full_name, birth_date, %s, %s, %s, %s, referral_code, "
        "  %s, %s FROM import_staging WHERE status = 'ok' ORDER BY row_no",
        [False, False, False, Member.Status.ACTIVE, Member.Source.IMPORT, moment],
    )
    cursor.execute(
        "INSERT INTO members_card (id, number, member_id, partner_id, status, is_virtual, "
        "  issued_at, outlet_id, created_at) "
        "SELECT card_id, card_number, member_id, %s, %s, %s, COALESCE(issued_at, %s), "
        "  outlet_id, %s "
        "FROM import_staging WHERE status = 'ok' ORDER BY row_no",
        [operator.pk, Card.Status.ISSUED, False, moment, moment],
    )
    cursor.execute(
        "INSERT INTO loyalty_account (id, kind, member_id, balance) "
        "SELECT available_id, %s, member_id, balance FROM import_staging WHERE status = 'ok' "
        "UNION ALL SELECT pending_id, %s, member_id, 0 FROM import_staging WHERE status = 'ok' "
        "UNION ALL SELECT debt_id, %s, member_id, 0 FROM import_staging WHERE status = 'ok'",
        [Kind.AVAILABLE, Kind.PENDING, Kind.DEBT],
    )
    cursor.execute(
        "INSERT INTO loyalty_transfer (id, debit_account_id, credit_account_id, amount, code, "
        "  reference, created_at) "
        "SELECT transfer_id, %s, available_id, balance, %s, %s, %s FROM import_staging "
        "WHERE status = 'ok' AND balance > 0 ORDER BY row_no",
        [migration.pk, "migration", "legacy card import", moment],
    )
    cursor.execute(
        "INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, expires_at, "
        "  created_at) "
        "SELECT available_id, transfer_id, balance, balance, expires_at, %s FROM import_staging "
        "WHERE status = 'ok' AND balance > 0 ORDER BY row_no",
        [moment],
    )
    if checks_deferred:
        cursor.execute("SET LOCAL session_replication_role = origin")


def _summary_fill(cursor: Any, summary: ImportSummary, now: datetime) -> None:
    cursor.execute("SELECT status, count(*) FROM import_staging GROUP BY status")
    counts = dict(cursor.fetchall())
    summary.created = counts.get("ok", 0)
    summary.updated = counts.get("updated", 0)
    summary.skipped = counts.get("skipped", 0)
    summary.errors = counts.get("error", 0) + counts.get("conflict", 0)
    cursor.execute(
        "SELECT COALESCE(SUM(balance), 0), "
        "  COALESCE(SUM(CASE WHEN expires_at <= %s THEN balance ELSE 0 END), 0) "
        "FROM import_staging WHERE status = 'ok'",
        [connection.ops.adapt_datetimefield_value(now)],
    )
    points, past_expiry = cursor.fetchone()
    summary.points, summary.points_past_expiry = int(points), int(past_expiry)


def _conflict_reasons() -> dict[str, str]:
    return {
        "card_twice": _("The card number is also on row %(row)s; the first row is imported."),
        "phone_twice": _("The phone is also on row %(row)s; the first row is imported."),
        "card_exists": _("A card with this number already exists."),
        "phone_exists": _("A member with this phone already exists."),
        "card_without_holder": _("The card exists but has no holder to update."),
        "phone_other_member": _("The phone belongs to another member than the card's holder."),
        "unchanged": _("The holder already has these details."),
    }


REPORT_HEADER = ["row", "column", "value", "outcome", "reason"]


def _report_write(path: Path) -> None:
    """Every row not imported as new, with why: problems in cells, then conflicts."""
    reasons = _conflict_reasons()
    outcome = {"error": _("error"), "conflict": _("error"), "skipped": _("skipped")}
    with connection.cursor() as cursor, path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(REPORT_HEADER)
        cursor.execute(
            "SELECT row_no, problems, status, conflict, conflict_row, card_number, phone "
            "FROM import_staging WHERE status IN ('error', 'conflict', 'skipped') ORDER BY row_no"
        )
        for row_no, problems, status, conflict, conflict_row, card_number, phone in cursor:
            for column, value, reason in json.loads(problems) if problems else []:
                writer.writerow(
                    [row_no, cell_safe(column), cell_safe(value), outcome[status], reason]
                )
            if conflict:
                value = phone if conflict.startswith("phone") else card_number
                writer.writerow(
                    [
                        row_no,
                        "phone" if conflict.startswith("phone") else "card_number",
                        cell_safe(value or ""),
                        outcome[status],
                        reasons[conflict] % {"row": conflict_row},
                    ]
                )


def report_default_path(source: Path) -> Path:
    """Beside the imported file: `cards.csv` → `cards.import-report.csv`."""
    return source.with_name(f"{source.stem}.import-report.csv")
