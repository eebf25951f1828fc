"""What a partner and the operator owe each other, day by day, read from the ledger.

A partner pays for the points it issues (net of those reversed by refunds) at
its rate per point issued, and is paid for the points spent with it (net of
those returned by refunds) at its rate per point redeemed. Rates are
versioned by day, so each day is priced at the rate in force and rounded to
the cent on its own: a statement's total is the sum of its lines.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, IntegerField, Q, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from loyalty.ledger import Kind, system_account
from loyalty.models import Transfer

from .models import Partner, PartnerRate

CENT = Decimal("0.01")


def money_round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def points_unpriced(issued_net: int, redeemed_net: int) -> int:
    """Points that moved money-wise on a day without a rate, whichever way."""
    return abs(issued_net) + abs(redeemed_net)


@dataclass(frozen=True)
class DayFigures:
    day: date
    points_issued: int = 0
    points_reversed: int = 0
    points_redeemed: int = 0
    points_returned: int = 0
    # Both None for a day before the partner's first rate.
    issued_price: Decimal | None = None
    redeemed_price: Decimal | None = None

    @property
    def is_priced(self) -> bool:
        return self.issued_price is not None and self.redeemed_price is not None

    @property
    def points_unpriced(self) -> int:
        if self.is_priced:
            return 0
        return points_unpriced(
            self.points_issued - self.points_reversed, self.points_redeemed - self.points_returned
        )

    @property
    def due_from_partner(self) -> Decimal:
        if self.issued_price is None:
            return Decimal("0.00")
        return money_round((self.points_issued - self.points_reversed) * self.issued_price)

    @property
    def due_to_partner(self) -> Decimal:
        if self.redeemed_price is None:
            return Decimal("0.00")
        return money_round((self.points_redeemed - self.points_returned) * self.redeemed_price)


@dataclass
class PeriodFigures:
    points_issued: int = 0
    points_reversed: int = 0
    points_redeemed: int = 0
    points_returned: int = 0
    points_unpriced: int = 0
    due_from_partner: Decimal = field(default_factory=lambda: Decimal("0.00"))
    due_to_partner: Decimal = field(default_factory=lambda: Decimal("0.00"))

    @property
    def net_due_from_partner(self) -> Decimal:
        return self.due_from_partner - self.due_to_partner


def period_totals(days: Iterable[DayFigures]) -> PeriodFigures:
    totals = PeriodFigures()
    for figures in days:
        totals.points_issued += figures.points_issued
        totals.points_reversed += figures.points_reversed
        totals.points_redeemed += figures.points_redeemed
        totals.points_returned += figures.points_returned
        totals.points_unpriced += figures.points_unpriced
        totals.due_from_partner += figures.due_from_partner
        totals.due_to_partner += figures.due_to_partner
    return totals


def _sum_when(**condition: int) -> Sum:
    return Sum(Case(When(then="amount", **condition), default=0, output_field=IntegerField()))


def partner_days(partner: Partner, start: datetime, end: datetime) -> list[DayFigures]:
    """The partner's points per day of [start, end) (days in the program's time zone), priced."""
    issued = system_account(Kind.ISSUED, partner).pk
    redeemed = system_account(Kind.REDEEMED, partner).pk
    rows = (
        Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(
            Q(debit_account_id__in=[issued, redeemed]) | Q(credit_account_id__in=[issued, redeemed])
        )
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(
            issued=_sum_when(debit_account_id=issued),
            reversed=_sum_when(credit_account_id=issued),
            redeemed=_sum_when(credit_account_id=redeemed),
            returned=_sum_when(debit_account_id=redeemed),
        )
        .order_by("day")
    )
    rates = _RateBook(partner)
    days = []
    for row in rows:
        rate = rates.on(row["day"])
        days.append(
            DayFigures(
                day=row["day"],
                points_issued=row["issued"],
                points_reversed=row["reversed"],
                points_redeemed=row["redeemed"],
                points_returned=row["returned"],
                issued_price=rate.issued_price if rate else None,
                redeemed_price=rate.redeemed_price if rate else None,
            )
        )
    return days


def partner_period_figures(partner: Partner, start: datetime, end: datetime) -> PeriodFigures:
    """Points and money between the operator and `partner` for [start, end)."""
    return period_totals(partner_days(partner, start, end))


class _RateBook:
    """A partner's rates, loaded once, looked up by day."""

    def __init__(self, partner: Partner) -> None:
        self._rates = list(PartnerRate.objects.filter(partner=partner).order_by("valid_from"))
        self._starts = [rate.valid_from for rate in self._rates]

    def on(self, day: date) -> PartnerRate | None:
        index = bisect_right(self._starts, day)
        return self._rates[index - 1] if index else None
