"""What a journey changed: its treated members against its control group.

Both groups are measured the same way, over `measure_days` after each
member entered: whether they bought, how often, and how much (net of
refunds). The difference between the groups is the journey's effect, given
with a 95 % confidence interval (Welch's normal approximation), so a
marketer sees whether it is more than chance.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from ..models import Journey, JourneyEntry, JourneyMessage, Purchase

Z_95 = 1.959964


@dataclass
class Moments:
    """Count, sum and sum of squares of one per-member figure."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.squares += value * value

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (n - 1)."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


@dataclass
class GroupFigures:
    members: int = 0
    buyers: Moments = field(default_factory=Moments)  # 1 per member who bought, else 0
    purchases: Moments = field(default_factory=Moments)
    revenue: Moments = field(default_factory=Moments)


@dataclass(frozen=True)
class Difference:
    """Treated minus control, with its 95 % confidence interval."""

    value: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class MessageFigures:
    sent: int
    opened: int
    clicked: int
    converted: int  # followed by a purchase within the attribution window


@dataclass(frozen=True)
class JourneyReport:
    treated: GroupFigures
    control: GroupFigures
    messages: MessageFigures
    conversion: Difference | None
    frequency: Difference | None
    revenue: Difference | None


def difference(treated: Moments, control: Moments) -> Difference | None:
    """Welch's interval for the difference of two means; None below two members a group."""
    if treated.n < 2 or control.n < 2:
        return None
    value = treated.mean - control.mean
    error = math.sqrt(treated.variance / treated.n + control.variance / control.n)
    return Difference(value, value - Z_95 * error, value + Z_95 * error)


def journey_report(journey: Journey) -> JourneyReport:
    groups = {True: GroupFigures(), False: GroupFigures()}
    for is_control, purchases, revenue in _outcomes(journey):
        group = groups[is_control]
        group.members += 1
        group.buyers.add(1.0 if purchases else 0.0)
        group.purchases.add(float(purchases))
        group.revenue.add(float(revenue))
    treated, control = groups[False], groups[True]
    return JourneyReport(
        treated=treated,
        control=control,
        messages=_message_figures(journey),
        conversion=difference(treated.buyers, control.buyers),
        frequency=difference(treated.purchases, control.purchases),
        revenue=difference(treated.revenue, control.revenue),
    )


def _outcomes(journey: Journey) -> Iterator[tuple[bool, int, Decimal]]:
    """(is_control, purchases, net revenue) per entry, within its measurement window."""
    window = Purchase.objects.filter(
        member=OuterRef("member"),
        created_at__gte=OuterRef("entered_at"),
        created_at__lt=OuterRef("window_end"),
    ).values("member")
    count = window.annotate(n=Count("id")).values("n")
    revenue = window.annotate(total=Sum(F("amount") - F("refunded_amount"))).values("total")
    money = DecimalField(max_digits=14, decimal_places=2)
    return (
        JourneyEntry.objects.filter(journey=journey)
        .annotate(
            window_end=ExpressionWrapper(
                F("entered_at") + timedelta(days=journey.measure_days),
                output_field=DateTimeField(),
            )
        )
        .annotate(
            purchases=Coalesce(Subquery(count, output_field=IntegerField()), 0),
            revenue=Coalesce(
                Subquery(revenue, output_field=money), Decimal("0"), output_field=money
            ),
        )
        .values_list("is_control", "purchases", "revenue")
        .iterator(chunk_size=5000)
    )


def _message_figures(journey: Journey) -> MessageFigures:
    sent = JourneyMessage.objects.filter(entry__journey=journey, status=JourneyMessage.Status.SENT)
    converted = sent.annotate(
        converted=Exists(
            Purchase.objects.filter(
                member=OuterRef("entry__member"),
                created_at__gte=OuterRef("sent_at"),
                created_at__lt=ExpressionWrapper(
                    OuterRef("sent_at") + timedelta(days=journey.attribution_days),
                    output_field=DateTimeField(),
                ),
            )
        )
    ).filter(converted=True)
    return MessageFigures(
        sent=sent.count(),
        opened=sent.filter(opened_at__isnull=False).count(),
        clicked=sent.filter(clicked_at__isnull=False).count(),
        converted=converted.count(),
    )
