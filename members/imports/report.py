"""What an import tells: the summary's counts and lines, and the report file of rows not imported.

Both are read from the staging table once every chunk is in: `summary_fill`
counts its rows by status and the points created; `report_write` lists every
row not imported as new, with why (problems in its cells, or its conflict).
"""

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from members.exports import cell_safe


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


def summary_fill(cursor: Any, summary: ImportSummary, now: datetime) -> None:
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


def report_write(path: Path) -> None:
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
