"""Hostile import files: each is refused, or its bad rows are, with a clear reason;
never a database error, a traceback, or memory in proportion to what it unpacks to."""

import csv

import pytest
from django.core.management import call_command

from members.ean import ean13_from_serial
from members.imports.reader import UnreadableFile
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
