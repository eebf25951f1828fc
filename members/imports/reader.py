"""Reading a legacy export as rows of cells, whatever its encoding and delimiter.

CSV: UTF-8 (with or without a byte order mark) or Windows-1251, detected from
the bytes; comma, semicolon or tab, detected from the header line; quoted
fields with delimiters and line breaks inside; blank lines skipped. XLSX: the
first sheet, streamed in read-only mode. Rows come one at a time, so a file
of millions of rows never sits in memory.

An XLSX file is a zip of XML parts, and a small one can unpack to gigabytes:
its sizes are checked from the zip's directory before anything is unpacked,
and its parts over 1 MB are streamed through once, to bound what openpyxl
would build and keep in memory (see `_xlsx_guard`).
"""

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

SAMPLE_BYTES = 1 << 16
DELIMITERS = (",", ";", "\t")

MB = 1 << 20
# A part up to this size can take openpyxl some 25 MB at worst, however it is made
# (an XML element takes about 90 bytes, and the shortest is 4); larger ones are checked.
XLSX_CHECK_FROM = 1 * MB
# Parts of real spreadsheets compress 3 to 20 times; a zip bomb, up to 1,000 times.
XLSX_RATIO_MAX = 100
# Excel's 1,048,576 rows of a sheet take a few hundred MB of XML.
XLSX_UNPACKED_MAX = 1024 * MB
# openpyxl keeps every shared string in memory, about 2.5 times their XML's size.
XLSX_STRINGS_MAX = 128 * MB
# openpyxl builds a row or a shared string, then clears it; the rest of a part (its
# head and tail, or all of a part without rows) it keeps. A piece, from the start of
# one row or string to the next, is at most this many bytes and tags (a `<` each,
# start or end: 200,000 make at most 100,000 elements, some 10 MB; a row of Excel's
# 16,384 cells has under 100,000).
XLSX_PIECE_MAX = 8 * MB
XLSX_PIECE_TAGS = 200_000
_XLSX_BLOCK = 256 * 1024  # what the streamed pass reads at a time
# openpyxl hands over an empty row for each row number a sheet skips, and each row
# as wide as its last cell: a few bytes could make it loop for hours. A spreadsheet's
# last row, and the cells of a hundred columns of a million rows.
XLSX_ROWS_MAX = 1_048_576
XLSX_CELLS_MAX = 100_000_000
# The first element's namespace prefix: writers built on the OpenXML SDK write
# <x:worksheet> and <x:row>. (Rows under another prefix would only make bigger pieces.)
_XLSX_ROOT = re.compile(rb"<([\w.-]+:)?[\w.-]")


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
    try:
        text = io.TextIOWrapper(binary, encoding=chosen, newline="")
    except LookupError:  # a codec that is not a text encoding, such as rot13 or hex
        raise UnreadableFile(_("Unknown encoding: %(name)s.") % {"name": chosen}) from None
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
    if value in '"\r\n':  # the csv module refuses them
        raise UnreadableFile(_("A quote or a line break cannot be the delimiter."))
    return value


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _xlsx_open(path: Path) -> Table:
    from openpyxl import load_workbook

    _xlsx_guard(path)
    try:
        # Links to other workbooks are not read: only this file's first sheet matters.
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # openpyxl raises several kinds for a damaged file
        raise UnreadableFile(_("This XLSX file cannot be read.")) from error
    try:
        rows = _xlsx_rows(workbook.worksheets[0])
        _number, headers = next(rows)
    except StopIteration:
        workbook.close()
        raise UnreadableFile(_("The file is empty.")) from None
    except UnreadableFile:
        workbook.close()
        raise
    except Exception as error:  # no sheet at all, or a damaged one
        workbook.close()
        raise UnreadableFile(_("This XLSX file cannot be read.")) from error
    return Table(["" if h is None else str(h).strip() for h in headers], _closing(rows, workbook))


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    """The sheet's non-empty rows; a row openpyxl cannot read ends the file as unreadable
    (it raises anything from IndexError to a parse error), never the import with a crash."""
    sheet.reset_dimensions()  # not padded to the size the sheet claims: only what it has
    number = cells_read = 0
    try:
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells_read += len(row)
            _xlsx_extent_check(number, cells_read)
            if any(cell not in (None, "") for cell in row):
                yield number, list(row)
    except UnreadableFile:
        raise
    except Exception as error:
        if not number:
            raise
        raise UnreadableFile(
            _("This XLSX file cannot be read after row %(row)d.") % {"row": number}
        ) from error


def _xlsx_extent_check(rows: int, cells: int) -> None:
    if rows > XLSX_ROWS_MAX:
        raise UnreadableFile(
            _("This XLSX file has rows past row %(limit)d, the last one of a spreadsheet.")
            % {"limit": XLSX_ROWS_MAX}
        )
    if cells > XLSX_CELLS_MAX:
        raise UnreadableFile(
            _("This XLSX file has more than %(limit)d cells; save the columns to import as CSV.")
            % {"limit": XLSX_CELLS_MAX}
        )


def _closing(
    rows: Iterator[tuple[int, list[Any]]], workbook: Any
) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    finally:
        workbook.close()


def _xlsx_guard(path: Path) -> None:
    """Refuse an XLSX file that would unpack to far more than it holds, before openpyxl
    unpacks any of it. A part yields no more than the size the zip's directory gives
    (zipfile stops there), so those sizes can be trusted."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            _xlsx_sizes_check(parts)
            for part in parts:
                if part.file_size > XLSX_CHECK_FROM:
                    _xlsx_pieces_check(archive, part)
            _xlsx_strings_check(archive)  # parses the list of parts: checked first
    except UnreadableFile:
        raise
    except Exception as error:  # a damaged zip: zipfile and zlib raise several kinds
        raise UnreadableFile(_("This XLSX file cannot be read.")) from error


def _xlsx_sizes_check(parts: list[zipfile.ZipInfo]) -> None:
    if sum(part.file_size for part in parts) > XLSX_UNPACKED_MAX:
        raise UnreadableFile(
            _("This XLSX file is too large once unpacked (over %(limit)d MB); save it as CSV.")
            % {"limit": XLSX_UNPACKED_MAX // MB}
        )
    for part in parts:
        if part.file_size > max(XLSX_CHECK_FROM, XLSX_RATIO_MAX * part.compress_size):
            raise UnreadableFile(
                _("This XLSX file is refused: part of it unpacks to over %(ratio)d times its size.")
                % {"ratio": XLSX_RATIO_MAX}
            )


def _xlsx_pieces_check(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> None:
    """One streamed pass over a part, a block at a time (see _PieceCheck)."""
    check = _PieceCheck()
    with archive.open(part) as stream:
        while block := stream.read(_XLSX_BLOCK):
            check.block(block)
    check.end()


class _PieceCheck:
    """Each piece of a part (from the start of a row or shared string to the next) is
    small enough, and nothing follows the end of a row or string but the next one.
    There is no `<!` either: a CDATA section would hide what it holds from the pass.

    What follows the last start of a row or string in a block waits for the next
    one, so that each search sees whole pieces; a start cut in two by the end of a
    block only makes one piece of two, never a smaller one.
    """

    def __init__(self) -> None:
        self.pending: list[bytes] = []  # the piece under way
        self.size = 0  # its bytes
        self.tags = 0  # and its tags
        self.marks: tuple[re.Pattern[bytes], re.Pattern[bytes]] | None = None

    def block(self, block: bytes) -> None:
        if self.marks is None:
            root = _XLSX_ROOT.search(block)
            self.marks = _xlsx_marks((root[1] or b"") if root else b"")
        first, *marked = self.marks[0].split(block)  # marked: start, piece, start, piece...
        self.pending.append(first)
        self.size += len(first)
        self.tags += first.count(b"<")
        _piece_check(self.size, self.tags)
        if not marked:
            return
        pieces = marked[1::2]
        _piece_check(max(map(len, pieces)), max(map(bytes.count, pieces, repeat(b"<"))))
        self._between_check(b"".join([*self.pending, *marked[:-2]]))
        self.pending = marked[-2:]
        self.size, self.tags = len(marked[-1]), marked[-1].count(b"<")

    def end(self) -> None:
        self._between_check(b"".join(self.pending))

    def _between_check(self, data: bytes) -> None:
        if b"<!" in data or (self.marks and self.marks[1].search(data)):
            raise UnreadableFile(
                _("This XLSX file is refused: it holds XML that spreadsheets do not write.")
            )


@lru_cache(maxsize=8)
def _xlsx_marks(prefix: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """The start of a row or string (kept by split()), and the end of one followed by
    something else than the next one or the end of the list: openpyxl would keep that
    for good. Real files put at most a line break and an indent between two rows. The
    data searched always ends just before the start of a row or string (\\Z)."""
    name = re.escape(prefix) + rb"(?:row|si)"
    after = rb"(?:</" + name + rb"|<" + name + rb"\b[^<]*/)>\s{0,64}+(?!<" + name + rb"\b|</|\Z)"
    return re.compile(rb"(<" + name + rb"\b)"), re.compile(after)


def _piece_check(size: int, tags: int) -> None:
    if size > XLSX_PIECE_MAX or tags > XLSX_PIECE_TAGS:
        raise UnreadableFile(
            _(
                "This XLSX file is refused: it holds a row, a text or a part larger than "
                "%(limit)d MB or %(tags)d XML tags."
            )
            % {"limit": XLSX_PIECE_MAX // MB, "tags": XLSX_PIECE_TAGS}
        )


def _xlsx_strings_check(archive: zipfile.ZipFile) -> None:
    """openpyxl keeps every shared string in memory: refuse too many of them. The part
    is found as openpyxl finds it, through the file's list of content types."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS
    from openpyxl.xml.functions import fromstring

    manifest = Manifest.from_tree(fromstring(archive.read(ARC_CONTENT_TYPES)))
    strings = manifest.find(SHARED_STRINGS)
    if strings is None:
        return
    if archive.getinfo(strings.PartName[1:]).file_size > XLSX_STRINGS_MAX:
        raise UnreadableFile(
            _("This XLSX file holds more than %(limit)d MB of text; save it as CSV.")
            % {"limit": XLSX_STRINGS_MAX // MB}
        )
