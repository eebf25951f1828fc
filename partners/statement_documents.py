"""A settlement statement as the files partners and accountants keep: CSV and PDF."""

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from members.exports import csv_response
from members.templatetags.locale_format import day, money, points

from .models import Statement, StatementLine
from .statements import statement_lines_by_kind

FONTS = Path(__file__).resolve().parent / "fonts"


def statement_filename(statement: Statement, extension: str) -> str:
    return f"statement-{statement.partner.code}-{statement.month:%Y-%m}.{extension}"


def _line_header() -> list[str]:
    return [
        _("Day"),
        _("Line"),
        _("Points issued"),
        _("Points reversed"),
        pgettext("statement", "Points redeemed"),
        _("Points returned"),
        _("Price per point issued"),
        _("Price per point redeemed"),
        _("Due from the partner"),
        _("Due to the partner"),
    ]


def _csv_rows(statement: Statement) -> Iterator[Sequence[Any]]:
    own, corrections = statement_lines_by_kind(statement)
    for line in [*own, *corrections]:
        yield [
            line.day.isoformat(),
            _("correction") if line.is_correction else _("day"),
            line.points_issued,
            line.points_reversed,
            line.points_redeemed,
            line.points_returned,
            line.issued_price,
            line.redeemed_price,
            line.due_from_partner,
            line.due_to_partner,
        ]
    yield [
        "",
        _("total"),
        statement.points_issued,
        statement.points_reversed,
        statement.points_redeemed,
        statement.points_returned,
        None,
        None,
        statement.due_from_partner,
        statement.due_to_partner,
    ]


def statement_csv(statement: Statement) -> StreamingHttpResponse:
    """One row per day and per correction, then the total (plain numbers, ISO dates)."""
    return csv_response(statement_filename(statement, "csv"), _line_header(), _csv_rows(statement))


def _locale() -> str:
    return (get_language() or "en").replace("-", "_")


def _price(value: Decimal | None) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0.00##", locale=_locale())


def _period(statement: Statement) -> str:
    return format_date(statement.month, format="LLLL yyyy", locale=_locale()).capitalize()


class _StatementPdf(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.set_text_color(110)
        self.cell(0, 5, _("Page %(page)s") % {"page": self.page_no()}, align="R")


def statement_pdf_response(statement: Statement) -> HttpResponse:
    """The statement's PDF as a download (the admin's and the partner API's)."""
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    filename = statement_filename(statement, "pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def statement_pdf(statement: Statement) -> bytes:
    """A printable A4 statement in the reader's language."""
    pdf = _StatementPdf(format="A4")
    pdf.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_title(_("Settlement statement"))
    pdf.set_creation_date(statement.computed_at)  # the same statement prints the same bytes
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    _heading(pdf, statement)
    _summary(pdf, statement)
    own, corrections = statement_lines_by_kind(statement)
    _lines_table(pdf, _("Days of the month"), own)
    if corrections:
        _lines_table(pdf, _("Corrections of earlier months"), corrections)
    return bytes(pdf.output())


def _heading(pdf: FPDF, statement: Statement) -> None:
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 9, _("Settlement statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    status = (
        _("Closed %(date)s") % {"date": day(statement.closed_at)}
        if statement.closed_at
        else _("Preliminary, computed %(date)s") % {"date": day(statement.computed_at)}
    )
    for text in (
        f"{statement.partner.name} · {_period(statement)}",
        status,
    ):
        pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _summary(pdf: FPDF, statement: Statement) -> None:
    net = statement.net_due_from_partner
    rows = [
        (_("Points issued"), points(statement.points_issued)),
        (_("Points reversed by refunds"), points(statement.points_reversed)),
        (pgettext("statement", "Points redeemed"), points(statement.points_redeemed)),
        (_("Points returned by refunds"), points(statement.points_returned)),
        (_("Due from the partner"), money(statement.due_from_partner)),
        (_("Due to the partner"), money(statement.due_to_partner)),
        (
            _("The partner pays") if net >= 0 else _("The operator pays"),
            money(abs(net)),
        ),
    ]
    if statement.points_unpriced:
        rows.append((_("Points without a rate"), points(statement.points_unpriced)))
    pdf.set_font("DejaVu", size=10)
    with pdf.table(
        col_widths=(3, 2), width=120, align="LEFT", first_row_as_headings=False
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label)
            row.cell(value, align="RIGHT")
    pdf.ln(6)


def _lines_table(pdf: FPDF, title: str, lines: list[StatementLine]) -> None:
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    if not lines:
        pdf.set_font("DejaVu", size=9)
        pdf.cell(0, 6, _("No points moved."), new_x="LMARGIN", new_y="NEXT")
        return
    pdf.set_font("DejaVu", size=7.5)
    header = [
        _("Day"),
        pgettext("statement", "Issued"),
        _("Reversed"),
        pgettext("statement", "Redeemed"),
        _("Returned"),
        _("Price issued"),
        _("Price redeemed"),
        _("Due from the partner"),
        _("Due to the partner"),
    ]
    with pdf.table(
        col_widths=(12, 9, 9, 11, 9, 8, 8, 14, 14),
        text_align=("LEFT", *["RIGHT"] * 8),
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 242)),
        line_height=4.5,
    ) as table:
        table.row(header)
        for line in lines:
            table.row(
                [
                    day(line.day),
                    points(line.points_issued),
                    points(line.points_reversed),
                    points(line.points_redeemed),
                    points(line.points_returned),
                    _price(line.issued_price),
                    _price(line.redeemed_price),
                    money(line.due_from_partner),
                    money(line.due_to_partner),
                ]
            )
    pdf.ln(4)
