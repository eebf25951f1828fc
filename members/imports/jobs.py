"""Imports started from the admin: upload, a checking dry run, then the import on confirm.

Both runs are Celery tasks (eager in the demo). Progress goes to the cache,
not the database: the import's own transaction would hide it until commit.
Every run ends in a final state, even on an error nobody foresaw: the page
would otherwise show "checking" forever.
"""

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.base import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import CardImport

from .reader import UnreadableFile
from .report import ImportSummary
from .runner import ImportRefused, cards_import

logger = logging.getLogger(__name__)

PROGRESS_TTL = 6 * 60 * 60


def progress_key(import_id: int) -> str:
    return f"card-import:{import_id}:rows"


def progress_rows(import_id: int) -> int:
    return int(cache.get(progress_key(import_id), 0))


def card_import_upload(
    *,
    upload: UploadedFile,
    on_conflict: str,
    encoding: str,
    delimiter: str,
    mapping: dict[str, str],
    by: User | None,
) -> CardImport:
    """Store the file; its check (a dry run) is the caller's to queue
    (`members.tasks.card_import_check_task`)."""
    return CardImport.objects.create(
        file=upload,
        original_name=Path(upload.name or "upload").name,
        on_conflict=on_conflict,
        encoding=encoding or "auto",
        delimiter=delimiter or "auto",
        mapping=mapping,
        uploaded_by=by,
    )


def card_import_confirm(import_id: int) -> bool:
    """Mark a checked file for the real import; True if this call did, and its caller then
    queues it (`members.tasks.card_import_run_task`): a second click does nothing."""
    with transaction.atomic():
        job = CardImport.objects.select_for_update().get(pk=import_id)
        if job.status != CardImport.Status.CHECKED:
            return False
        job.status = CardImport.Status.IMPORTING
        job.save(update_fields=["status"])
    return True


def card_import_check(import_id: int) -> None:
    _run(import_id, dry_run=True)


def card_import_run(import_id: int) -> None:
    _run(import_id, dry_run=False)


def _run(import_id: int, *, dry_run: bool) -> None:
    job = CardImport.objects.get(pk=import_id)
    expected = CardImport.Status.CHECKING if dry_run else CardImport.Status.IMPORTING
    if job.status != expected:
        return  # a redelivered task: this step already ran
    imported = False  # whether the import's transaction has committed
    try:
        source = Path(job.file.path)
        report = source.with_name(f"{source.stem}.{'check' if dry_run else 'import'}-report.csv")
        summary = _import(job, source, report, dry_run=dry_run)
        if summary is None:
            return  # the file's own problem, recorded with its reason
        imported = not dry_run
        _result_record(job, summary, report, dry_run=dry_run)
    except Exception:
        # Not re-raised: in the demo the task runs inside the admin's request, which
        # would answer 500, and a worker would only log it.
        logger.exception("card import %s stopped on an unexpected error", job.pk)
        _unexpected_error_record(job.pk, imported=imported)


def _import(job: CardImport, source: Path, report: Path, *, dry_run: bool) -> ImportSummary | None:
    """The run itself; None when the file is unreadable or refused (the job says why)."""
    cache.set(progress_key(job.pk), 0, PROGRESS_TTL)
    try:
        return cards_import(
            source,
            on_conflict=job.on_conflict,
            dry_run=dry_run,
            encoding=job.encoding,
            delimiter=job.delimiter,
            mapping=job.mapping,
            report_path=report,
            progress=lambda rows: cache.set(progress_key(job.pk), rows, PROGRESS_TTL),
        )
    except (UnreadableFile, ImportRefused) as error:
        _report_keep(job, report)
        _finish(job, status=CardImport.Status.FAILED, error=str(error))
        return None


def _result_record(job: CardImport, summary: ImportSummary, report: Path, *, dry_run: bool) -> None:
    cache.set(progress_key(job.pk), summary.rows, PROGRESS_TTL)
    _report_keep(job, report)
    if dry_run:
        job.check_summary = _summary_data(summary)
        _finish(job, status=CardImport.Status.CHECKED)
    else:
        job.import_summary = _summary_data(summary)
        _finish(job, status=CardImport.Status.DONE)


def _unexpected_error_record(import_id: int, *, imported: bool) -> None:
    """A final state after an error nobody foresaw, told as it is: the import is one
    transaction, so either it rolled back or it had committed before the error.

    Only these columns are updated: the job object may hold what made saving it fail.
    A connection the error broke (the server went away) is dropped for a fresh one.
    """
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    if imported:
        status = CardImport.Status.DONE
        error = _(
            "The cards were imported, but the result could not be recorded; "
            "the details are in the server log."
        )
    else:
        status = CardImport.Status.FAILED
        error = _(
            "An unexpected error stopped this run and nothing was imported; "
            "the details are in the server log."
        )
    CardImport.objects.filter(pk=import_id).update(
        status=status, error=error, finished_at=timezone.now()
    )


def _report_keep(job: CardImport, report: Path) -> None:
    """Store the run's report with the job (a refused run has one too: the conflicts)."""
    if not report.exists():
        return
    with report.open("rb") as handle:
        job.report.save(report.name, File(handle), save=False)
    report.unlink()


def _summary_data(summary: ImportSummary) -> dict[str, Any]:
    """The summary as the admin shows it (the report is a download there, not a path)."""
    summary.report_path = None
    data = asdict(summary)
    data["lines"] = summary.lines()
    return data


def _finish(job: CardImport, *, status: str, error: str = "") -> None:
    """A run ended: checked (the job waits for confirmation), done or failed."""
    job.status = status
    job.error = error
    job.finished_at = None if status == CardImport.Status.CHECKED else timezone.now()
    job.save()
