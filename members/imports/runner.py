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

This module runs the import: the transaction, the chunks, the reading
thread and the time each step takes. The steps are the package's other
modules, in the order a row goes through them: `reader` (the file's rows of
cells), `parsing` (the columns, each row as typed values), `staging` (the
staging table and its checks), `inserting` (the new members, cards and
accounts) and `report` (the summary and the report file).
"""

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .inserting import Inserter
from .parsing import RowParser, columns_map, outlets_by_key, parsed_rows
from .reader import Table, UnreadableFile, table_open
from .report import ImportSummary, report_write, summary_fill
from .staging import (
    Chunk,
    chunk_stage,
    conflicts_found,
    conflicts_mark,
    duplicates_mark,
    holders_update,
    staging_create,
    staging_drop,
)

logger = logging.getLogger(__name__)

ON_CONFLICT = ("skip", "update", "fail")
# Rows checked, staged and inserted together; progress is reported after each chunk.
CHUNK_ROWS = 50_000


class ImportRefused(Exception):
    """The import stopped before writing anything; the message says why."""


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
                    report_write(report_path)
                raise
            if report_path is not None:
                report_write(report_path)
            with connection.cursor() as cursor:
                staging_drop(cursor)
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
    parser = RowParser(columns, table.headers, outlets_by_key(), now)
    steps = _StepTimes()
    refused = False
    with connection.cursor() as cursor:
        staging_create(cursor)
        inserter = None if summary.dry_run else Inserter(cursor, now)
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
        summary_fill(cursor, summary, now)


def _chunk_import(
    cursor: Any, chunk: Chunk, on_conflict: str, inserter: Inserter | None, steps: "_StepTimes"
) -> bool:
    """Stage and check one chunk, then insert its new rows; True when, under "fail",
    it holds a conflict (and nothing was inserted)."""
    with steps("stage rows"):
        chunk_stage(cursor, chunk)
    with steps("find duplicates and conflicts"):
        duplicates_mark(cursor, chunk)
        conflicts_mark(cursor, chunk, on_conflict)
    if on_conflict == "fail" and conflicts_found(cursor, chunk):
        return True
    if on_conflict == "update":
        with steps("update existing holders"):
            holders_update(cursor, chunk)
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


def _chunks(table: Table, parser: RowParser) -> Iterator[Chunk]:
    batch: list[tuple[Any, ...]] = []
    for row in parsed_rows(table, parser):
        batch.append(row)
        if len(batch) == CHUNK_ROWS:
            yield Chunk.of_rows(batch)
            batch = []
    if batch:
        yield Chunk.of_rows(batch)


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
