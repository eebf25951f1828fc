"""Import a legacy card base: members, cards and opening balances, all or nothing.

The file is read and checked in Python, a chunk of rows at a time, by a
thread that works ahead while the database takes the previous chunk. Each
chunk is streamed into a staging table (COPY); everything else is set-based
SQL: repeats of an earlier row of the file, cards and phones already in the
database, then members (with referral codes drawn as for any member) and cards,
inserted with ids taken from the sequences, and, through the ledger
(`loyalty.ledger.member_accounts_open_with_balances`), each member's three accounts with a
`migration` transfer and a lot per opening balance. The whole run is one
transaction: a crash or a refused conflict leaves nothing behind, and
`dry_run` rolls it back on purpose (no ids are taken from sequences then).

Re-importing a file changes nothing: its cards exist, so its rows are skipped
(or, with `on_conflict="update"`, their holders' names, emails and birth dates
are refreshed where they differ; balances are imported once, when the card is
created).
"""

import csv
import json
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty.bulk import Column, Ids, references_checked
from loyalty.ledger import OpeningBalances, member_accounts_open_with_balances
from loyalty.program import points_expire_at, program_settings
from members.exports import cell_safe
from members.models import Card, Member
from members.services import referral_codes_draw
from partners.models import Outlet
from partners.selectors import operator_partner

from . import fields as F
from .reader import Table, UnreadableFile, table_open

logger = logging.getLogger(__name__)

ON_CONFLICT = ("skip", "update", "fail")
# Rows checked, staged and inserted together; progress is reported after each chunk.
CHUNK_ROWS = 50_000

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
    _headers_check(headers)
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


def _headers_check(headers: list[str]) -> None:
    """Headers go into messages, the summary and the report: they follow a cell's rules."""
    for column, header in enumerate(headers, start=1):
        try:
            F.text_check(header)
        except F.CellError as error:
            raise UnreadableFile(
                _("The header of column %(column)d: %(reason)s")
                % {"column": column, "reason": error}
            ) from None


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
        self.seen = SeenFilter()
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
                if raw.__class__ is str:
                    F.text_check(raw)  # before any parser copies it or it reaches the database
                values[name] = parse(raw)
            except F.CellError as error:
                problems.append([header, F.cell_quote(raw), str(error)])
        issued_at = values.get("issued_at")
        balance = values["balance"]
        maybe_repeat = False
        if not problems:
            maybe_repeat = self.seen.add(values["card_number"])
            if values.get("phone"):
                maybe_repeat = self.seen.add(values["phone"]) or maybe_repeat
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
            json.dumps(problems, ensure_ascii=False) if problems else None,
            "error" if problems else "ok",
            maybe_repeat,
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
        try:
            day = parsed.astimezone(self.tz).date() if parsed else None
        except OverflowError:  # 0001-01-01T00:00+05:00 falls before the year 1 here
            raise F.CellError(_("The date is out of range.")) from None
        F.not_in_future(day, self.today)
        return parsed


class SeenFilter:
    """The card numbers and phones of the valid rows read so far, as a Bloom filter.

    A row whose card and phone it has not seen cannot repeat an earlier row,
    so SQL looks up only the rows it flags: the repeats and, at a million rows,
    about one other row in a thousand. It takes 8 MB whatever the file's size
    (a set of a million numbers would take a hundred).
    """

    BITS = 1 << 26
    HASHES = 3

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)

    def add(self, key: str) -> bool:
        """Add `key`; True if it may have been added before, False if it surely was not."""
        position = hash(key)
        step = (position >> 32) | 1  # double hashing: positions h, h + s, h + 2s, ...
        bits, mask = self.bits, self.BITS - 1
        seen = True
        for _hash in range(self.HASHES):
            position = (position + step) & mask
            byte, bit = position >> 3, 1 << (position & 7)
            if not bits[byte] & bit:
                seen = False
                bits[byte] |= bit
        return seen


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
        with transaction.atomic():
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
    """Chunk by chunk: stage, check against earlier rows and the database, insert.

    A thread reads and checks the next chunk while the database works on this
    one (the database waits release Python's lock), so on two cores the
    import takes about as long as the longer of the two, not their sum.
    """
    outlets: dict[str, int] = {}
    for outlet_id, code, name in Outlet.objects.values_list("id", "code", "name"):
        outlets.setdefault(name.casefold(), outlet_id)
        outlets[code.casefold()] = outlet_id
    parser = RowParser(columns, table.headers, outlets, now)
    steps = _StepTimes()
    refused = False
    with connection.cursor() as cursor:
        _staging_create(cursor)
        inserter = None if summary.dry_run else _Inserter(cursor, now)
        with _ReadAhead(_chunks(table, parser)) as chunks:
            while True:
                with steps("read and check rows (waiting for the reading thread)"):
                    chunk = next(chunks, None)
                if chunk is None:
                    break
                # After a conflict under "fail", go on checking to report every conflict
                # of the file, but insert no more.
                refused |= _chunk_import(
                    cursor, chunk, on_conflict, None if refused else inserter, steps
                )
                summary.rows += chunk.rows
                if progress is not None:
                    progress(summary.rows)
        steps.log()
        if not summary.rows:
            raise UnreadableFile(_("The file has a header but no rows."))
        if refused:
            raise ImportRefused(
                _(
                    "Cards or phones of this file already exist and --on-conflict is fail: "
                    "nothing was imported."
                )
            )
        _summary_fill(cursor, summary, now)


def _chunk_import(
    cursor: Any, chunk: "Chunk", on_conflict: str, inserter: "_Inserter | None", steps: "_StepTimes"
) -> bool:
    """Stage and check one chunk, then insert its new rows; True when, under "fail",
    it holds a conflict (and nothing was inserted)."""
    with steps("stage rows"):
        _chunk_stage(cursor, chunk)
    with steps("find duplicates and conflicts"):
        _duplicates_mark(cursor, chunk)
        _conflicts_mark(cursor, chunk, on_conflict)
    if on_conflict == "fail" and _conflicts_found(cursor, chunk):
        return True
    if on_conflict == "update":
        with steps("update existing holders"):
            _holders_update(cursor, chunk)
    if inserter is not None:
        with steps("insert members, cards, accounts, transfers and lots"):
            inserter.chunk_insert(chunk)
    return False


class _StepTimes:
    """How long each step took over all chunks, logged at the end: an operator can see
    where a slow import spends its time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def log(self) -> None:
        for name, seconds in self.seconds.items():
            logger.info("import_cards: %s took %.1f s", name, seconds)
        logger.info("import_cards: all steps took %.1f s", time.perf_counter() - self.started)


@dataclass
class Chunk:
    """Consecutive rows of the file, checked and formatted for the staging table."""

    first_row: int
    last_row: int
    rows: int
    data: str  # COPY text


def _chunks(table: Table, parser: "RowParser") -> Iterator[Chunk]:
    batch: list[tuple[Any, ...]] = []
    for row in _parsed_rows(table, parser):
        batch.append(row)
        if len(batch) == CHUNK_ROWS:
            yield Chunk(batch[0][0], batch[-1][0], len(batch), _copy_text(batch))
            batch = []
    if batch:
        yield Chunk(batch[0][0], batch[-1][0], len(batch), _copy_text(batch))


_END = object()


class _QuickLockHandover:
    """While any import reads ahead in this process, the interpreter hands its lock over
    every 0.5 ms instead of 5 ms; the interval is restored when the last one ends (two
    imports at once in one process must not leave it changed)."""

    INTERVAL = 0.0005  # seconds

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def begin(self) -> None:
        with self._guard:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(self.INTERVAL)
            self._users += 1

    def end(self) -> None:
        with self._guard:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)


_quick_lock_handover = _QuickLockHandover()


class _ReadAhead:
    """Iterates over `items` produced by a thread, up to `depth` ahead of the consumer.

    The thread reads the file and checks rows (Python); the consumer mostly
    waits for the database, which releases the interpreter lock. An error in
    the thread is raised in the consumer. Leaving the `with` block, even on
    an error, stops the thread and waits for it: its lifetime never depends
    on when a generator is collected. The thread writes its messages in the
    caller's language and reads dates in the caller's time zone.
    """

    def __init__(self, items: Iterator[Chunk], depth: int = 2) -> None:
        self._items = items
        self._handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._language = translation.get_language()
        self._timezone = timezone.get_current_timezone()
        self._thread = threading.Thread(target=self._produce, name="import-read-ahead")

    def __enter__(self) -> "_ReadAhead":
        # The consumer waits on the database many times per chunk, and each time it
        # wants the interpreter lock back from the busy thread it waited up to the
        # switch interval (5 ms): 6 of 30 s on a million rows. Hand it over sooner.
        _quick_lock_handover.begin()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        _quick_lock_handover.end()

    def __iter__(self) -> "_ReadAhead":
        return self

    def __next__(self) -> Chunk:
        item, error = self._handoff.get()
        if error is not None:
            raise error
        if item is _END:
            raise StopIteration
        return item

    def _produce(self) -> None:
        try:
            with translation.override(self._language), timezone.override(self._timezone):
                for item in self._items:
                    if not self._handed(item):
                        return
            self._handed(_END)
        except BaseException as error:  # re-raised in the consumer
            self._handed(None, error)

    def _handed(self, item: Any, error: BaseException | None = None) -> bool:
        """Put `item` in the hand-off queue, unless the consumer has stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._handoff.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _parsed_rows(table: Table, parser: "RowParser") -> Iterator[tuple[Any, ...]]:
    count = 0
    try:
        for number, cells in table.rows:
            yield parser(number, cells)
            count += 1
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


def _staging_create(cursor: Any) -> None:
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


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    return "".join(map(_copy_line, rows))


def _chunk_stage(cursor: Any, chunk: Chunk) -> None:
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


def _duplicates_mark(cursor: Any, chunk: Chunk) -> None:
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


def _conflicts_mark(cursor: Any, chunk: Chunk, on_conflict: str) -> None:
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


def _conflicts_found(cursor: Any, chunk: Chunk) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM import_staging "
        "WHERE row_no BETWEEN %s AND %s AND status = 'conflict')",
        [chunk.first_row, chunk.last_row],
    )
    return bool(cursor.fetchone()[0])


def _holders_update(cursor: Any, chunk: Chunk) -> None:
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


class _Inserter:
    """Creates the new rows of each chunk: members with their referral codes, cards, and,
    through the ledger, each member's accounts with the opening balance."""

    def __init__(self, cursor: Any, now: datetime) -> None:
        self.cursor = cursor
        self.now = now
        self.moment = connection.ops.adapt_datetimefield_value(now)
        self.operator = operator_partner()
        self.sequences = _sequences(cursor)

    def chunk_insert(self, chunk: Chunk) -> None:
        cursor, rows = self.cursor, [chunk.first_row, chunk.last_row]
        cursor.execute(
            "SELECT count(*) FROM import_staging WHERE row_no BETWEEN %s AND %s AND status = 'ok'",
            rows,
        )
        codes = referral_codes_draw(cursor.fetchone()[0])
        cursor.execute(self._ids_sql(), [codes, *rows])
        references: list[tuple[str, Ids]] = [
            ("members_member", Column("import_new", "member_id", inserted_here=True)),
            ("partners_partner", [self.operator.pk]),
            ("partners_outlet", Column("import_new", "outlet_id")),
        ]
        with references_checked(cursor, references):
            self._members_insert()
            self._cards_insert()
            # Through the ledger, the one writer of accounts, transfers and lots, which
            # reads the chunk's table where it is (the members checked once, above).
            member_accounts_open_with_balances(
                OpeningBalances(table="import_new", reference="legacy card import", now=self.now)
            )
        cursor.execute("DROP TABLE import_new")

    def _ids_sql(self) -> str:
        """The chunk's new rows with their member and card ids and referral codes (drawn as
        `members.services.member_create` draws them: `referral_codes_draw`).

        Ids from the tables' sequences, so purchases and card issues can insert
        beside the import.
        """
        # The sequence names are literals, so PostgreSQL resolves each once, not per row.
        ids = {
            "member_id": f"nextval('{self.sequences['members_member']}'::regclass)",
            "card_id": f"nextval('{self.sequences['members_card']}'::regclass)",
        }
        # Codes join by position (an array subscript per row would scan the array each time).
        return (
            "CREATE TEMP TABLE import_new AS SELECT row_no, card_number, phone, full_name, "  # noqa: S608 -- names from pg_get_serial_sequence
            "  email, birth_date, issued_at, outlet_id, balance AS points, expires_at, "
            "  position, code.referral_code, "
            + ", ".join(f"{expression} AS {name}" for name, expression in ids.items())
            + " FROM unnest(%s::text[]) WITH ORDINALITY AS code(referral_code, position) "
            "JOIN (SELECT *, row_number() OVER (ORDER BY row_no) AS position FROM import_staging "
            "  WHERE row_no BETWEEN %s AND %s AND status = 'ok') AS staged USING (position) "
            "ORDER BY row_no"
        )

    def _members_insert(self) -> None:
        self.cursor.execute(
            "INSERT INTO members_member (id, phone, email, full_name, birth_date, consent_email, "
            "  consent_sms, consent_push, status, source, referral_code, created_at) "
            "SELECT member_id, phone, email, full_name, birth_date, %s, %s, %s, %s, %s, "
            "  referral_code, %s "
            "FROM import_new ORDER BY row_no",
            [False, False, False, Member.Status.ACTIVE, Member.Source.IMPORT, self.moment],
        )

    def _cards_insert(self) -> None:
        moment = self.moment
        self.cursor.execute(
            "INSERT INTO members_card (id, number, member_id, partner_id, status, is_virtual, "
            "  issued_at, outlet_id, created_at) "
            "SELECT card_id, card_number, member_id, %s, %s, %s, COALESCE(issued_at, %s), "
            "  outlet_id, %s FROM import_new ORDER BY row_no",
            [self.operator.pk, Card.Status.ISSUED, False, moment, moment],
        )


_SEQUENCE_NAME = re.compile(r"^[A-Za-z0-9_.\"]+$")


def _sequences(cursor: Any) -> dict[str, str]:
    """The id sequences of the tables the import fills (identity columns have them too)."""
    names = {}
    for table in ("members_member", "members_card"):
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        name = cursor.fetchone()[0]
        if not name or not _SEQUENCE_NAME.match(name):
            raise RuntimeError(f"unexpected sequence name {name!r}")
        names[table] = name
    return names


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
