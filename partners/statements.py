"""Monthly settlement statements: computed from the ledger, frozen when closed.

Statements of a partner close in month order. Closing one recomputes every
earlier closed month from the ledger and the rates as they are now; whatever
differs from what those statements froze (a rate entered late for their days)
becomes correction lines of the statement being closed, so a closed
statement never changes and nothing is settled twice or lost.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import Conflict
from loyalty.ledger import Kind, system_account
from loyalty.models import Transfer

from .models import Partner, Statement, StatementLine
from .settlement import DayFigures, partner_days, points_unpriced

LINE_FIGURES = (
    "points_issued",
    "points_reversed",
    "points_redeemed",
    "points_returned",
    "due_from_partner",
    "due_to_partner",
)


class StatementNotDue(Conflict):
    error_code = "statement_not_due"


def month_first_day(day: date) -> date:
    return day.replace(day=1)


def month_after(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """Midnight of the month's first day and of the next month's, in the program's time zone."""
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(month, time.min, tzinfo=zone),
        datetime.combine(month_after(month), time.min, tzinfo=zone),
    )


def statement_refresh(statement: Statement, *, now: datetime | None = None) -> Statement:
    """Recompute an open statement's lines (a closed one is returned as it is)."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().get(pk=statement.pk)
        if statement.status == Statement.Status.OPEN:
            corrections = not _earlier_open(statement).exists()
            _lines_write(statement, corrections=corrections, now=now or timezone.now())
    return statement


def statement_close(statement: Statement, *, now: datetime | None = None) -> Statement:
    """Freeze a finished month's statement, with corrections of the months closed before it."""
    now = now or timezone.now()
    with transaction.atomic():
        # One close at a time per partner: corrections compare with what is already frozen.
        Partner.objects.select_for_update().get(pk=statement.partner_id)
        statement = Statement.objects.select_for_update().get(pk=statement.pk)
        if statement.status == Statement.Status.CLOSED:
            return statement
        if month_bounds(statement.month)[1] > now:
            raise StatementNotDue(_("A month's statement can be closed once the month is over."))
        if _earlier_open(statement).exists():
            raise StatementNotDue(_("Close the statements of earlier months first."))
        _lines_write(statement, corrections=True, now=now)
        statement.status = Statement.Status.CLOSED
        statement.closed_at = now
        statement.save(update_fields=["status", "closed_at"])
    return statement


def statements_close_due(now: datetime | None = None) -> int:
    """The daily job: every partner's statements settled as of `now`; how many closed."""
    now = now or timezone.now()
    return sum(partner_statements_settle(partner, now=now) for partner in Partner.objects.all())


def partner_statements_settle(partner: Partner, *, now: datetime) -> int:
    """Close the partner's months that are due and refresh the others; how many closed.

    A month closes `SETTLEMENT_CLOSE_AFTER_DAYS` after it ends, which leaves
    time to enter its rates.
    """
    today = timezone.localdate(now)
    due_before = month_first_day(today - timedelta(days=settings.SETTLEMENT_CLOSE_AFTER_DAYS))
    closed = 0
    for statement in _statements_ensure(partner, until=month_first_day(today), now=now):
        if statement.status == Statement.Status.CLOSED:
            continue
        if statement.month < due_before:
            statement_close(statement, now=now)
            closed += 1
        else:
            statement_refresh(statement, now=now)
    return closed


def _statements_ensure(partner: Partner, *, until: date, now: datetime) -> list[Statement]:
    """The partner's statements from its first month with points through `until`, created
    where missing (a month without points gets a statement of zeros)."""
    first = Statement.objects.filter(partner=partner).aggregate(first=Min("month"))[
        "first"
    ] or _first_activity_month(partner)
    if first is None:
        return []
    existing = {s.month: s for s in Statement.objects.filter(partner=partner, month__gte=first)}
    statements = []
    month = first
    while month <= until:
        if month not in existing:
            existing[month], _created = Statement.objects.get_or_create(
                partner=partner, month=month, defaults={"computed_at": now}
            )
        statements.append(existing[month])
        month = month_after(month)
    return statements


def _first_activity_month(partner: Partner) -> date | None:
    accounts = [system_account(kind, partner).pk for kind in (Kind.ISSUED, Kind.REDEEMED)]
    # Four index range scans (account, created_at), one row each.
    firsts = [
        Transfer.objects.filter(**{side: account}).aggregate(first=Min("created_at"))["first"]
        for account in accounts
        for side in ("debit_account_id", "credit_account_id")
    ]
    known = [first for first in firsts if first is not None]
    return month_first_day(timezone.localdate(min(known))) if known else None


def _earlier_open(statement: Statement) -> QuerySet[Statement]:
    return Statement.objects.filter(
        partner_id=statement.partner_id,
        month__lt=statement.month,
        status=Statement.Status.OPEN,
    )


def _lines_write(statement: Statement, *, corrections: bool, now: datetime) -> None:
    partner = statement.partner
    start, end = month_bounds(statement.month)
    lines = [_line(statement, figures) for figures in partner_days(partner, start, end)]
    if corrections:
        lines += _correction_lines(statement)
    StatementLine.objects.filter(statement=statement).delete()
    StatementLine.objects.bulk_create(lines)
    _totals_set(statement, lines)
    statement.computed_at = now
    statement.save()


def _line(
    statement: Statement, figures: DayFigures, *, is_correction: bool = False
) -> StatementLine:
    return StatementLine(
        statement=statement,
        day=figures.day,
        is_correction=is_correction,
        points_issued=figures.points_issued,
        points_reversed=figures.points_reversed,
        points_redeemed=figures.points_redeemed,
        points_returned=figures.points_returned,
        issued_price=figures.issued_price,
        redeemed_price=figures.redeemed_price,
        due_from_partner=figures.due_from_partner,
        due_to_partner=figures.due_to_partner,
    )


def _correction_lines(statement: Statement) -> list[StatementLine]:
    """Per day of the closed months: the ledger now minus what their statements settled."""
    closed = Statement.objects.filter(
        partner_id=statement.partner_id, status=Statement.Status.CLOSED
    )
    first = closed.aggregate(first=Min("month"))["first"]
    if first is None:
        return []
    now_days = {
        figures.day: figures
        for figures in partner_days(
            statement.partner, month_bounds(first)[0], month_bounds(statement.month)[0]
        )
    }
    settled: dict[date, dict[str, Any]] = {
        row["day"]: dict(row)
        for row in StatementLine.objects.filter(statement__in=closed)
        .values("day")
        .annotate(**{name: Sum(name) for name in LINE_FIGURES})
    }
    lines = []
    for day in sorted(now_days.keys() | settled.keys()):
        line = _line(statement, now_days.get(day) or DayFigures(day=day), is_correction=True)
        before = settled.get(day)
        if before:
            for name in LINE_FIGURES:
                setattr(line, name, getattr(line, name) - before[name])
        if any(getattr(line, name) for name in LINE_FIGURES):
            lines.append(line)
    return lines


def _totals_set(statement: Statement, lines: Iterable[StatementLine]) -> None:
    statement.points_issued = statement.points_reversed = 0
    statement.points_redeemed = statement.points_returned = statement.points_unpriced = 0
    statement.due_from_partner = statement.due_to_partner = Decimal("0.00")
    for line in lines:
        for name in LINE_FIGURES:
            setattr(statement, name, getattr(statement, name) + getattr(line, name))
        if line.issued_price is None:
            statement.points_unpriced += points_unpriced(
                line.points_issued - line.points_reversed,
                line.points_redeemed - line.points_returned,
            )


def statements_of(partner: Partner) -> QuerySet[Statement]:
    """A partner's statements, newest first (what the partner API lists)."""
    return Statement.objects.filter(partner=partner).order_by("-month")


def statement_lines_by_kind(
    statement: Statement,
) -> tuple[list[StatementLine], list[StatementLine]]:
    """The statement's own days and its corrections of earlier months, each by day."""
    lines = list(statement.lines.order_by("day"))
    return (
        [line for line in lines if not line.is_correction],
        [line for line in lines if line.is_correction],
    )
