"""CSV and XLSX exports that spreadsheets open as data, never as formulas."""

import csv
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone

# A cell starting with one of these is a formula (or DDE) in Excel and LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value: Any) -> Any:
    """The value, with a leading apostrophe if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line: csv.writer into a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Lines of a CSV file (UTF-8 with BOM, so Excel reads Cyrillic), every cell made safe."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([cell_safe(h) for h in header])
    for row in rows:
        yield writer.writerow(["" if v is None else cell_safe(v) for v in row])


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """A CSV download streamed row by row: a million cards never sit in memory."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> FileResponse:
    """An XLSX download written row by row (openpyxl's write-only mode) to a temporary file.

    The escaping matters more here than in CSV: openpyxl itself stores any
    string that starts with "=" as a formula.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([cell_safe(h) for h in header])
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 -- FileResponse closes it when sent
    workbook.save(handle)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=filename)


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):  # Excel has no time zones: local time, as people read it
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    return cell_safe(value)


EXPORT_KINDS = ("csv", "xlsx")


def table_response(
    name: str, kind: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponseBase:
    """A report's table as `name`.csv or `name`.xlsx, as `kind` asks."""
    if kind == "csv":
        return csv_response(f"{name}.csv", header, rows)
    return xlsx_response(f"{name}.xlsx", header, rows)
