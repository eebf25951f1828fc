"""Reading a legacy export as rows of cells, whatever its encoding and delimiter.

CSV: UTF-8 (with or without a byte order mark) or Windows-1251, detected from
the bytes; comma, semicolon or tab, detected from the header line; quoted
fields with delimiters and line breaks inside; blank lines skipped. XLSX: the
first sheet, streamed in read-only mode. Rows come one at a time, so a file
of millions of rows never sits in memory.
"""

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

SAMPLE_BYTES = 1 << 16
DELIMITERS = (",", ";", "\t")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (wrong format, no header)."""


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number as a spreadsheet shows it, cells)
    encoding: str = ""
    delimiter: str = ""


def table_open(
    path: Path, *, encoding: str = "auto", delimiter: str = "auto", stack: list[IO[Any]]
) -> Table:
    """Open `path` as a table; files opened are appended to `stack` for the caller to close."""
    with path.open("rb") as probe:
        head = probe.read(SAMPLE_BYTES)
    if head.startswith(b"PK") and zipfile.is_zipfile(path):
        return _xlsx_open(path)
    if head.count(b"\x00") > max(4, len(head) // 100):
        # Binary, or UTF-16: NULs are a good part of it. A stray NUL or two in a CSV
        # are the problem of their rows (see fields.text_check).
        raise UnreadableFile(_("This is not a CSV or XLSX file."))
    chosen = _encoding_detect(head) if encoding == "auto" else encoding
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise UnreadableFile(_("Unknown encoding: %(name)s.") % {"name": chosen}) from None
    binary = path.open("rb")
    stack.append(binary)
    text = io.TextIOWrapper(binary, encoding=chosen, newline="")
    sample = head.decode(chosen, errors="ignore")
    chosen_delimiter = _delimiter_detect(sample) if delimiter == "auto" else _unescape(delimiter)
    reader = csv.reader(text, delimiter=chosen_delimiter)
    rows = _csv_rows(reader)
    try:
        _line, headers = next(rows)
    except StopIteration:
        raise UnreadableFile(_("The file is empty.")) from None
    except UnicodeDecodeError:
        raise UnreadableFile(
            _("The file is not in %(encoding)s; give the encoding.") % {"encoding": chosen}
        ) from None
    return Table([str(h).strip() for h in headers], rows, chosen, chosen_delimiter)


def _encoding_detect(head: bytes) -> str:
    """UTF-8 if the sample decodes as UTF-8 (a BOM says so too), else Windows-1251."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the sample's end is fine
    except UnicodeDecodeError:
        return "cp1251"
    return "utf-8"


def _delimiter_detect(sample: str) -> str:
    """The delimiter the header line uses most (outside quotes)."""
    header = next((line for line in sample.splitlines() if line.strip()), "")
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unescape(delimiter: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";"}
    value = named.get(delimiter.lower(), delimiter)
    if len(value) != 1:
        raise UnreadableFile(_("A delimiter is one character."))
    return value


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _xlsx_open(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several kinds for a damaged file
        raise UnreadableFile(_("This XLSX file cannot be read.")) from error
    sheet = workbook.worksheets[0]
    rows = (
        (number, list(cells))
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)
        if any(cell not in (None, "") for cell in cells)
    )
    try:
        _number, headers = next(rows)
    except StopIteration:
        workbook.close()
        raise UnreadableFile(_("The file is empty.")) from None
    return Table(["" if h is None else str(h).strip() for h in headers], _closing(rows, workbook))


def _closing(
    rows: Iterator[tuple[int, list[Any]]], workbook: Any
) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    finally:
        workbook.close()
