"""Hostile import files: each is refused, or its bad rows are, with a clear reason;
never a database error, a traceback, or memory in proportion to what it unpacks to."""

import csv
import os
import random
import re
import tracemalloc
import zipfile

import pytest
from django.core.management import CommandError, call_command

from members.ean import ean13_from_serial
from members.imports import reader
from members.imports.reader import UnreadableFile, table_open
from members.imports.runner import cards_import
from members.models import Card, Member

pytestmark = pytest.mark.django_db

NOT_TEXT = "The cell holds a character that is not text: U+{:04X}."


def number(serial):
    return ean13_from_serial("777", serial)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def report_rows(path):
    report = path.with_name(f"{path.stem}.import-report.csv")
    with report.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def import_with_report(path, **options):
    return cards_import(
        path, report_path=path.with_name(f"{path.stem}.import-report.csv"), **options
    )


# An XLSX file written by hand, part by part, so that a test can put in it what no
# spreadsheet would: openpyxl reads it like any other.
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
XLSX_PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{PACKAGE}/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{SPREADSHEET}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{SPREADSHEET}.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{SPREADSHEET}.sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
        f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
}


SHEETS = '<sheet name="Cards" sheetId="1" r:id="rId1"/>'


def xlsx_write(path, *, strings, rows, sheets=SHEETS, prefix=""):
    """`strings`: the shared strings' XML, as an iterable of byte blocks (streamed into
    the zip, so a test never holds a big one); `rows`: the sheet's <row> elements;
    `prefix`: a namespace prefix for every element of both, as in `x:row`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in XLSX_PARTS.items():
            archive.writestr(name, text)
        workbook = (
            f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>{sheets}</sheets></workbook>'
        )
        archive.writestr("xl/workbook.xml", workbook)
        with archive.open("xl/sharedStrings.xml", "w") as part:
            part.write(prefixed(f'<sst xmlns="{MAIN}">'.encode(), prefix))
            for block in strings:
                part.write(prefixed(block, prefix))
            part.write(prefixed(b"</sst>", prefix))
        sheet = f'<worksheet xmlns="{MAIN}"><sheetData>{"".join(rows)}</sheetData></worksheet>'
        archive.writestr("xl/worksheets/sheet1.xml", prefixed(sheet.encode(), prefix))
    return path


def prefixed(xml, prefix):
    if not prefix:
        return xml
    xml = re.sub(rb"<(/?)([a-zA-Z])", rb"<\1" + prefix.encode() + rb"\2", xml)
    return xml.replace(b"xmlns=", b"xmlns:" + prefix.rstrip(":").encode() + b"=")


def shared_cells(row, *indexes):
    cells = "".join(
        f'<c r="{chr(65 + column)}{row}" t="s"><v>{index}</v></c>'
        for column, index in enumerate(indexes)
    )
    return f'<row r="{row}">{cells}</row>'


def one_long_string(block, size):
    """A header string, then one shared string of `size` bytes made of `block`."""
    yield b"<si><t>card_number</t></si><si><t>full_name</t></si><si><t>"
    for _start in range(0, size, len(block)):
        yield block
    yield b"</t></si>"


def peak_bytes_while(action):
    """The most memory Python held at once while `action` ran (tracemalloc counts every
    allocation of the interpreter, openpyxl's and zlib's buffers included)."""
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def refused_holding_at_most(path, match):
    """Open `path`, expecting it refused; the peak of Python's memory meanwhile."""

    def read():
        with pytest.raises(UnreadableFile, match=match):
            open_table(path)

    return peak_bytes_while(read)


def open_table(path):
    stack = []
    try:
        return table_open(path, stack=stack)
    finally:
        for handle in stack:
            handle.close()


# A NUL byte and the other characters that are not text


def test_a_nul_byte_after_the_sniffed_head_refuses_its_row_not_the_import(
    tmp_path, operator, program, capsys
):
    rows = "".join(f"{number(i)},Anna\n" for i in range(1, 5000))  # past the 64 KB sniffed
    path = write(tmp_path / "cards.csv", f"card_number,full_name\n{rows}{number(9000)},Iv\0an\n")
    call_command("import_cards", str(path))
    assert "4999 created" in capsys.readouterr().out
    [row] = report_rows(path)
    assert (row["row"], row["column"], row["value"]) == ("5001", "full_name", "Iv\\u0000an")
    assert row["reason"] == NOT_TEXT.format(0)
    assert Card.objects.count() == 4999
    assert not Card.objects.filter(number=number(9000)).exists()


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("card_number", f"{number(1)}\0"),
        ("phone", "+7912\x00345-67-89"),
        ("email", "anna\x00@example.com"),
        ("balance", "1\x0050"),
        ("issued_at", "01.02.2025\x00"),
        ("outlet", "\x00central"),
    ],
)
def test_a_nul_byte_in_any_column_refuses_the_row_naming_the_column(
    tmp_path, operator, program, column, cell
):
    values = {"card_number": number(1), "full_name": "Anna"} | {column: cell}
    path = tmp_path / "cards.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(values)
        writer.writerow(values.values())
    summary = import_with_report(path)
    assert (summary.created, summary.errors) == (0, 1)
    [row] = report_rows(path)
    assert (row["column"], row["reason"]) == (column, NOT_TEXT.format(0))


def test_control_characters_and_lone_surrogates_refuse_their_rows(tmp_path, operator, program):
    """UTF-7 decodes `+2AA-` to half a surrogate pair, which UTF-8 (and so PostgreSQL's
    COPY) cannot encode; a bell or an escape in a name is no more a name."""
    path = write(
        tmp_path / "cards.csv",
        f"card_number,full_name,email\n{number(1)},Anna \ud800,\n{number(2)},Boris\x1b[31m,\n"
        f'{number(3)},,"""a\x07""@example.com"\n{number(4)},Olga,\n',
        encoding="utf-7",
    )
    summary = import_with_report(path, encoding="utf-7")
    assert (summary.created, summary.errors) == (1, 3)
    reasons = {r["row"]: (r["column"], r["value"], r["reason"]) for r in report_rows(path)}
    assert reasons == {
        "2": ("full_name", "Anna \\ud800", NOT_TEXT.format(0xD800)),
        "3": ("full_name", "Boris\\u001b[31m", NOT_TEXT.format(0x1B)),
        "4": ("email", '"a\\u0007"@example.com', NOT_TEXT.format(0x07)),
    }
    assert Member.objects.get().full_name == "Olga"


def test_a_header_that_is_not_text_makes_the_file_unreadable(tmp_path, operator, program):
    path = write(tmp_path / "cards.csv", f"card_number,Notes \ud800\n{number(1)},x\n", "utf-7")
    with pytest.raises(UnreadableFile, match=r"header of column 2: .*U\+D800"):
        cards_import(path, encoding="utf-7")
    long_header = write(tmp_path / "long.csv", f"card_number,{'N' * 2000}\n{number(1)},x\n")
    with pytest.raises(UnreadableFile, match="header of column 2: The cell is longer than 1000"):
        cards_import(long_header)


# Cells and files too large


def test_an_overlong_cell_is_a_row_error_and_the_report_quotes_only_its_start(
    tmp_path, operator, program
):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["card_number", "full_name", "notes"])
    workbook.active.append([number(1), "Я" * 30_000, "an ignored column may hold anything"])
    workbook.active.append([number(2), "Anna", "x" * 30_000])
    path = tmp_path / "cards.xlsx"
    workbook.save(path)
    summary = import_with_report(path)
    assert (summary.created, summary.errors) == (1, 1)
    [row] = report_rows(path)
    assert (row["column"], row["reason"]) == (
        "full_name",
        "The cell is longer than 1000 characters.",
    )
    assert row["value"] == "Я" * 100 + "\u2026"


def test_a_shared_string_bomb_is_refused_before_anything_is_unpacked(tmp_path, operator):
    """The review's file: 150 MB of one letter packs into 150 KB. It took 1.95 GB and
    wrote a 157 MB report; now Python holds under 2 MB at any moment."""
    path = xlsx_write(
        tmp_path / "bomb.xlsx",
        strings=one_long_string(b"A" * (1 << 20), 150 << 20),
        rows=[shared_cells(1, 0, 1), shared_cells(2, 2, 2)],
    )
    assert path.stat().st_size < 200_000
    assert refused_holding_at_most(path, "unpacks to over 100 times its size") < 2 << 20
    with pytest.raises(CommandError, match="unpacks to over 100 times its size"):
        call_command("import_cards", str(path))


def test_a_long_text_that_packs_poorly_is_refused_by_the_streamed_pass(tmp_path, monkeypatch):
    """Random hex packs only twice, so the zip's sizes look sane: the pass over the part
    finds the shared string longer than a piece may be, holding one block at a time."""
    monkeypatch.setattr(reader, "XLSX_PIECE_MAX", 1 << 20)
    path = xlsx_write(
        tmp_path / "long-text.xlsx",
        strings=one_long_string(os.urandom(1 << 16).hex().encode(), 16 << 20),
        rows=[shared_cells(1, 0, 1), shared_cells(2, 2, 2)],
    )
    peak = refused_holding_at_most(path, "a row, a text or a part larger than 1 MB")
    assert peak < 4 << 20  # the text alone is 16 MB; openpyxl would hold it several times


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_rows_and_shared_strings_within_the_limits_pass_the_streamed_pass(
    tmp_path, operator, program, monkeypatch, prefix
):
    """Every part is checked here, in pieces of at most 4 KB: rows and strings under a
    namespace prefix (as the OpenXML SDK writes them), a line break between them."""
    monkeypatch.setattr(reader, "XLSX_CHECK_FROM", 0)
    monkeypatch.setattr(reader, "XLSX_PIECE_MAX", 4096)
    strings = [b"<si><t>card_number</t></si>\n<si><t>full_name</t></si>"]
    strings += [
        f"\n  <si><t>{number(i)}</t></si>\n  <si><t>Name {i}</t></si>".encode()
        for i in range(1, 301)
    ]
    rows = [shared_cells(1, 0, 1), '\n<row r="2"/>']
    rows += [f"\n  {shared_cells(i + 2, 2 * i, 2 * i + 1)}" for i in range(1, 301)]
    path = xlsx_write(tmp_path / "cards.xlsx", strings=strings, rows=rows, prefix=prefix)
    assert cards_import(path).created == 300


ROW_2 = f'<row r="2"><c r="A2"><v>{number(1)}</v></c></row>'


@pytest.mark.parametrize(
    ("rows", "strings"),
    [
        ([ROW_2, "<junk/>", ROW_2.replace('"2"', '"3"')], []),  # between two rows
        ([ROW_2, "  some text", ROW_2.replace('"2"', '"3"')], []),
        (['<row r="2"/>', "<junk>1</junk>", ROW_2.replace('"2"', '"3"')], []),
        ([ROW_2, "<junk>", '<row r="3"/>', "</junk>"], []),  # rows inside it
        ([ROW_2], [b"<si><t><![CDATA[", b"<si>x" * 20, b"]]></t></si>"]),  # hides marks
        ([ROW_2], [b"<si><t>x</t></si><junk/><si><t>y</t></si>"]),  # between two strings
    ],
)
def test_xml_that_openpyxl_would_keep_or_that_hides_rows_is_refused(
    tmp_path, monkeypatch, rows, strings
):
    """openpyxl clears each row and string once read, and keeps anything else it meets
    among them: that is how a small file took hundreds of MB. Real files hold nothing
    there."""
    monkeypatch.setattr(reader, "XLSX_CHECK_FROM", 0)
    strings = [b"<si><t>card_number</t></si>", *strings]
    path = xlsx_write(tmp_path / "odd.xlsx", strings=strings, rows=[shared_cells(1, 0), *rows])
    with pytest.raises(UnreadableFile, match="XML that spreadsheets do not write"):
        open_table(path)


def test_a_sheet_of_millions_of_tiny_elements_is_refused_holding_little(tmp_path):
    """1.9 million empty elements after the last row: 7.6 MB, packed into 800 KB. The
    import held 200 MB more for them (openpyxl keeps them); the real limits refuse them
    with a quarter of a megabyte of it read at a time."""
    tiny = "".join(random.Random(1).choices(("<a/>", "<b/>", "<c/>", "<d/>"), k=1_900_000))
    path = xlsx_write(
        tmp_path / "tiny.xlsx", strings=[b"<si><t>card_number</t></si>"], rows=[ROW_2, tiny]
    )
    assert path.stat().st_size < 1 << 20
    assert refused_holding_at_most(path, "larger than 8 MB or 200000 XML tags") < 4 << 20


def test_too_much_shared_text_or_too_much_unpacked_is_refused(tmp_path, monkeypatch):
    strings = [f"<si><t>{number(i)}</t></si>".encode() for i in range(1, 200)]
    path = xlsx_write(tmp_path / "cards.xlsx", strings=strings, rows=[shared_cells(1, 0)])
    monkeypatch.setattr(reader, "XLSX_STRINGS_MAX", 1024)
    with pytest.raises(UnreadableFile, match="MB of text; save it as CSV"):
        open_table(path)
    monkeypatch.setattr(reader, "XLSX_UNPACKED_MAX", 1024)
    with pytest.raises(UnreadableFile, match="too large once unpacked"):
        open_table(path)


# Other files that used to crash the import or leave it stuck


def test_a_damaged_sheet_is_unreadable_from_the_row_it_breaks_at(tmp_path, operator, program):
    strings = [b"<si><t>card_number</t></si>"]
    strings += [f"<si><t>{number(i)}</t></si>".encode() for i in (1, 2)]
    rows = [shared_cells(1, 0), shared_cells(2, 1), shared_cells(3, 99)]  # no string 99
    path = xlsx_write(tmp_path / "damaged.xlsx", strings=strings, rows=rows)
    with pytest.raises(UnreadableFile, match="cannot be read after row 2"):
        cards_import(path)
    assert not Card.objects.exists()


def test_a_workbook_without_a_sheet_is_unreadable(tmp_path):
    path = xlsx_write(tmp_path / "no-sheet.xlsx", strings=[], rows=[], sheets="")
    with pytest.raises(UnreadableFile, match="cannot be read"):
        open_table(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "The file is empty."), (b"card_number,phone\r\n\r\n", "a header but no rows")],
)
def test_an_empty_file_or_a_header_alone_is_refused(tmp_path, operator, program, content, reason):
    path = tmp_path / "cards.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=reason):
        call_command("import_cards", str(path))


def test_a_delimiter_or_an_encoding_the_reader_cannot_use_is_refused(tmp_path, operator):
    path = write(tmp_path / "cards.csv", f"card_number\n{number(1)}\n")
    with pytest.raises(UnreadableFile, match="A quote or a line break cannot be the delimiter"):
        cards_import(path, delimiter='"')
    with pytest.raises(UnreadableFile, match="Unknown encoding: rot13"):
        cards_import(path, encoding="rot13")


def test_a_date_the_calendar_cannot_hold_here_is_a_row_error(tmp_path, operator, program):
    path = write(
        tmp_path / "cards.csv",
        "card_number,balance,issued_at\n"
        f"{number(1)},5,0001-01-01T00:00+05:00\n"  # before the year 1 in UTC
        f"{number(2)},5,9999-12-31T23:00-05:00\n"  # after the year 9999 there
        f"{number(3)},5,01.01.0001\n",
    )
    summary = import_with_report(path)
    assert (summary.created, summary.errors) == (1, 2)
    reasons = {r["row"]: r["reason"] for r in report_rows(path)}
    assert reasons == {"2": "The date is out of range.", "3": "The date is out of range."}


def test_a_sheet_that_skips_to_a_row_past_the_last_one_is_refused(tmp_path):
    """openpyxl hands over an empty row for every row number skipped: 2,000,000 of them
    for these few bytes (a trillion would take days)."""
    rows = [shared_cells(1, 0), f'<row r="2000000"><c r="A2000000"><v>{number(1)}</v></c></row>']
    path = xlsx_write(tmp_path / "far.xlsx", strings=[b"<si><t>card_number</t></si>"], rows=rows)
    with pytest.raises(UnreadableFile, match="rows past row 1048576"):
        list(open_table(path).rows)


def test_a_sheet_wider_than_the_cell_budget_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "XLSX_CELLS_MAX", 1000)
    wide = [f'<row r="{i}"><c r="ZZ{i}"><v>1</v></c></row>' for i in range(2, 5)]  # 702 wide
    path = xlsx_write(
        tmp_path / "wide.xlsx",
        strings=[b"<si><t>card_number</t></si>"],
        rows=[shared_cells(1, 0), *wide],
    )
    with pytest.raises(UnreadableFile, match="more than 1000 cells"):
        list(open_table(path).rows)
