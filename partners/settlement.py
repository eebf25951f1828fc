"""What a partner and the operator owe each other for a period, read from the ledger.

A partner pays for the points it issues (net of those reversed by refunds) at
its rate per point issued, and is paid for the points spent with it (net of
those returned by refunds) at its rate per point redeemed. Rates are
versioned by day, so the points are priced day by day at the rate in force.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Case, IntegerField, Q, Sum, When
from django.db.models.functions import TruncDate

from loyalty.ledger import Kind, system_account
from loyalty.models import Transfer

from .models import Partner
from .selectors import partner_rate_on

CENT = Decimal("0.01")


@dataclass
class PeriodFigures:
    points_issued: int = 0
    points_reversed: int = 0
    points_redeemed: int = 0
    points_returned: int = 0
    # Points of days before the partner's first rate: not priced.
    points_unpriced: int = 0
    due_from_partner: Decimal = field(default_factory=Decimal)
    due_to_partner: Decimal = field(default_factory=Decimal)

    @property
    def net_due_from_partner(self) -> Decimal:
        return self.due_from_partner - self.due_to_partner


def _sum_when(**condition: int) -> Sum:
    return Sum(Case(When(then="amount", **condition), default=0, output_field=IntegerField()))


def partner_period_figures(partner: Partner, start: datetime, end: datetime) -> PeriodFigures:
    """Points and money between the operator and `partner` for [start, end)."""
    issued = system_account(Kind.ISSUED, partner).pk
    redeemed = system_account(Kind.REDEEMED, partner).pk
    days = (
        Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(
            Q(debit_account_id__in=[issued, redeemed]) | Q(credit_account_id__in=[issued, redeemed])
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            issued=_sum_when(debit_account_id=issued),
            reversed=_sum_when(credit_account_id=issued),
            redeemed=_sum_when(credit_account_id=redeemed),
            returned=_sum_when(debit_account_id=redeemed),
        )
        .order_by("day")
    )
    figures = PeriodFigures()
    for row in days:
        figures.points_issued += row["issued"]
        figures.points_reversed += row["reversed"]
        figures.points_redeemed += row["redeemed"]
        figures.points_returned += row["returned"]
        _price_day(figures, partner, row["day"], row)
    figures.due_from_partner = figures.due_from_partner.quantize(CENT, ROUND_HALF_UP)
    figures.due_to_partner = figures.due_to_partner.quantize(CENT, ROUND_HALF_UP)
    return figures


def _price_day(figures: PeriodFigures, partner: Partner, day: date, row: Mapping[str, Any]) -> None:
    rate = partner_rate_on(partner, day)
    issued_net = row["issued"] - row["reversed"]
    redeemed_net = row["redeemed"] - row["returned"]
    if rate is None:
        figures.points_unpriced += abs(issued_net) + abs(redeemed_net)
        return
    figures.due_from_partner += issued_net * rate.issued_price
    figures.due_to_partner += redeemed_net * rate.redeemed_price
