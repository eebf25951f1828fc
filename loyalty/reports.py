"""The marketers' dashboard: program figures for a period, from a daily rollup.

`daily_figures_refresh` recomputes whole days from the members, purchases,
activity counters and ledger with a handful of grouped queries, and the job
runs it for today and yesterday every 15 minutes; `manage.py run_job
daily_figures_backfill` does all of history once. The dashboard then sums
those rows; the few figures that are a state rather than a sum (members,
balances, tiers) are single aggregates over indexed tables.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from partners.models import Outlet, Partner
from rewards.models import Reward, Voucher

from .exceptions import InvalidRequest
from .ledger import Kind
from .models import (
    Account,
    CohortMonth,
    DailyFigures,
    Journey,
    MemberActivity,
    MemberTier,
    NonMemberSales,
    ProgramSnapshot,
    Purchase,
    TierChange,
    Transfer,
)
from .program import program_settings

FIGURES = (
    "new_members",
    "purchases",
    "revenue",
    "buyers",
    "points_issued",
    "points_reversed",
    "points_redeemed",
    "points_returned",
    "points_expired",
    "nonmember_receipts",
    "nonmember_revenue",
)


def days_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The days `first` to `last`, both included, as [start, end) in the program's time zone."""
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
    )


def _local_day(field_name: str) -> TruncDate:
    return TruncDate(field_name, tzinfo=timezone.get_default_timezone())


def daily_figures_refresh(first: date, last: date, *, now: datetime | None = None) -> int:
    """Recompute the days from `first` to `last` (inclusive); returns the days written."""
    now = now or timezone.now()
    start, end = days_bounds(first, last)
    days: dict[date, dict[str, Any]] = defaultdict(dict)
    for row in (
        Member.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=_local_day("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    ):
        days[row["day"]]["new_members"] = row["n"]
    for row in (
        Purchase.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=_local_day("created_at"))
        .values("day")
        .annotate(n=Count("id"), revenue=Sum(F("amount") - F("refunded_amount")))
    ):
        days[row["day"]].update(purchases=row["n"], revenue=row["revenue"])
    for row in (
        MemberActivity.objects.filter(day__gte=first, day__lte=last, purchases__gt=0)
        .values("day")
        .annotate(n=Count("member_id"))
    ):
        days[row["day"]]["buyers"] = row["n"]
    _ledger_days(days, start, end)
    nonmember = (
        NonMemberSales.objects.filter(day__gte=first, day__lte=last)
        .values("day")
        .annotate(receipts=Sum("receipts"), revenue=Sum("revenue"))
        .values_list("day", "receipts", "revenue")
    )
    for day, receipts, revenue in nonmember:
        days[day].update(nonmember_receipts=receipts, nonmember_revenue=revenue)
    rows = [
        DailyFigures(day=day, computed_at=now, **values)
        for day, values in days.items()
        if first <= day <= last
    ]
    with transaction.atomic():
        DailyFigures.objects.filter(day__gte=first, day__lte=last).delete()
        DailyFigures.objects.bulk_create(rows)
    return len(rows)


def _ledger_days(days: dict[date, dict[str, Any]], start: datetime, end: datetime) -> None:
    """Points moved per day, by the system accounts they left or reached."""
    kinds: dict[str, list[int]] = defaultdict(list)
    for pk, kind in Account.objects.filter(
        kind__in=[Kind.ISSUED, Kind.REDEEMED, Kind.EXPIRED], member__isnull=True
    ).values_list("pk", "kind"):
        kinds[kind].append(pk)

    def moved(**condition: Any) -> Sum:
        return Sum("amount", filter=Q(**condition), default=0)

    rows = (
        Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=_local_day("created_at"))
        .values("day")
        .annotate(
            points_issued=moved(debit_account_id__in=kinds[Kind.ISSUED]),
            points_reversed=moved(credit_account_id__in=kinds[Kind.ISSUED]),
            points_redeemed=moved(credit_account_id__in=kinds[Kind.REDEEMED]),
            points_returned=moved(debit_account_id__in=kinds[Kind.REDEEMED]),
            points_expired=moved(credit_account_id__in=kinds[Kind.EXPIRED]),
        )
    )
    for row in rows:
        days[row["day"]].update({name: value for name, value in row.items() if name != "day"})


def daily_figures_refresh_recent(now: datetime | None = None) -> int:
    """The job: today and yesterday (a late refund or expiry changes yesterday too), and
    today's snapshot of the program's state."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    written = daily_figures_refresh(today - timedelta(days=1), today, now=now)
    program_snapshot_refresh(now)
    return written


def program_snapshot_refresh(now: datetime | None = None) -> ProgramSnapshot:
    now = now or timezone.now()
    state = _program_state(timezone.localdate(now))
    snapshot, _created = ProgramSnapshot.objects.update_or_create(
        day=timezone.localdate(now), defaults={**state, "computed_at": now}
    )
    return snapshot


def _program_state(today: date) -> dict[str, int]:
    """Members, recent activity and balances now: counts over whole tables."""
    balances = dict(
        Account.objects.filter(
            member__isnull=False, kind__in=[Kind.AVAILABLE, Kind.PENDING, Kind.DEBT]
        )
        .values_list("kind")
        .annotate(total=Sum("balance"))
    )
    return {
        "members": Member.objects.filter(status=Member.Status.ACTIVE).count(),
        "active_30": _active_since(today - timedelta(days=29)),
        "active_90": _active_since(today - timedelta(days=89)),
        "liability_points": balances.get(Kind.AVAILABLE, 0) + balances.get(Kind.PENDING, 0),
        "debt_points": balances.get(Kind.DEBT, 0),
    }


def daily_figures_backfill(now: datetime | None = None) -> int:
    """Every day since the first member, purchase or transfer, a month at a time."""
    firsts = [
        model.objects.aggregate(first=Min("created_at"))["first"]
        for model in (Member, Purchase, Transfer)
    ]
    known = [first for first in firsts if first is not None]
    if not known:
        return 0
    day, today = timezone.localdate(min(known)), timezone.localdate(now or timezone.now())
    written = 0
    while day <= today:
        last = min(day + timedelta(days=30), today)
        written += daily_figures_refresh(day, last, now=now)
        day = last + timedelta(days=1)
    return written


@dataclass
class Dashboard:
    first: date
    last: date
    totals: dict[str, Any] = field(default_factory=dict)
    series: list[DailyFigures] = field(default_factory=list)
    members_total: int = 0
    active_30: int = 0
    active_90: int = 0
    buyers: int = 0
    liability_points: int = 0
    debt_points: int = 0
    state_at: datetime | None = None  # when the job counted the state; None: counted now
    tiers: list[tuple[str, int]] = field(default_factory=list)
    top_rewards: list[tuple[str, int]] = field(default_factory=list)
    tier_moves: list[tuple[str, str, int]] = field(default_factory=list)  # from, to, members
    outlets: list[tuple[str, int, Decimal]] = field(default_factory=list)  # purchases, revenue
    journeys: list[tuple[int, str, int, int]] = field(default_factory=list)  # id, name, in, ctrl

    @property
    def points_issued_net(self) -> int:
        return self.totals["points_issued"] - self.totals["points_reversed"]

    @property
    def points_redeemed_net(self) -> int:
        return self.totals["points_redeemed"] - self.totals["points_returned"]

    @property
    def redemption_rate(self) -> float | None:
        issued = self.points_issued_net
        return self.points_redeemed_net / issued if issued > 0 else None

    @property
    def breakage_rate(self) -> float | None:
        issued = self.points_issued_net
        return self.totals["points_expired"] / issued if issued > 0 else None

    @property
    def average_receipt(self) -> Decimal | None:
        purchases = self.totals["purchases"]
        return (self.totals["revenue"] / purchases).quantize(Decimal("0.01")) if purchases else None

    @property
    def nonmember_average_receipt(self) -> Decimal | None:
        receipts = self.totals["nonmember_receipts"]
        if not receipts:
            return None
        return (self.totals["nonmember_revenue"] / receipts).quantize(Decimal("0.01"))

    @property
    def member_share_of_receipts(self) -> float | None:
        """Receipts with a card among all, where the tills report those without one."""
        others = self.totals["nonmember_receipts"]
        if not others:
            return None
        return self.totals["purchases"] / (self.totals["purchases"] + others)

    @property
    def purchase_frequency(self) -> float | None:
        """Purchases per member who bought in the period."""
        return self.totals["purchases"] / self.buyers if self.buyers else None

    @property
    def liability_money(self) -> Decimal:
        return (self.liability_points * program_settings().point_value).quantize(Decimal("0.01"))


def dashboard(first: date, last: date, *, today: date | None = None) -> Dashboard:
    today = today or timezone.localdate()
    rows = DailyFigures.objects.filter(day__gte=first, day__lte=last)
    board = Dashboard(first=first, last=last, series=list(rows.order_by("day")))
    board.totals = {
        name: value or 0 for name, value in rows.aggregate(**{f: Sum(f) for f in FIGURES}).items()
    }
    snapshot = ProgramSnapshot.objects.filter(day=today).values().first()
    state = snapshot or _program_state(today)  # without the job (a fresh install): live
    board.members_total = state["members"]
    board.active_30, board.active_90 = state["active_30"], state["active_90"]
    board.liability_points, board.debt_points = state["liability_points"], state["debt_points"]
    board.state_at = snapshot["computed_at"] if snapshot else None
    board.buyers = (
        MemberActivity.objects.filter(day__gte=first, day__lte=last, purchases__gt=0)
        .values("member_id")
        .distinct()
        .count()
    )
    board.tiers = [
        (f"{row['tier__ladder__name']}: {row['tier__name']}", row["n"])
        for row in MemberTier.objects.values("tier__ladder__name", "tier__name", "tier__rank")
        .annotate(n=Count("id"))
        .order_by("tier__ladder__name", "tier__rank")
    ]
    board.top_rewards = _top_rewards(first, last)
    start, end = days_bounds(first, last)
    board.tier_moves = [
        (row["from_tier__name"] or "—", row["to_tier__name"] or "—", row["n"])
        for row in TierChange.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("from_tier__name", "to_tier__name")
        .annotate(n=Count("id"))
        .order_by("-n")[:10]
    ]
    board.outlets = [
        (row["outlet__name"] or str(row["partner__name"]), row["n"], row["revenue"] or Decimal(0))
        for row in Purchase.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("partner__name", "outlet__name")
        .annotate(n=Count("id"), revenue=Sum(F("amount") - F("refunded_amount")))
        .order_by("-revenue")[:10]
    ]
    board.journeys = [
        (row["id"], row["name"], row["entered"], row["control"])
        for row in Journey.objects.filter(is_active=True)
        .annotate(
            entered=Count(
                "entries", filter=Q(entries__entered_at__gte=start, entries__entered_at__lt=end)
            ),
            control=Count(
                "entries",
                filter=Q(
                    entries__entered_at__gte=start,
                    entries__entered_at__lt=end,
                    entries__is_control=True,
                ),
            ),
        )
        .values("id", "name", "entered", "control")
        .order_by("name")
    ]
    return board


def _active_since(first: date) -> int:
    return (
        MemberActivity.objects.filter(day__gte=first, purchases__gt=0)
        .values("member_id")
        .distinct()
        .count()
    )


def _top_rewards(first: date, last: date, limit: int = 10) -> list[tuple[str, int]]:
    start, end = days_bounds(first, last)
    counts = list(
        Voucher.objects.filter(issued_at__gte=start, issued_at__lt=end, reward__isnull=False)
        .values("reward_id")
        .annotate(n=Count("id"))
        .order_by("-n", "reward_id")[:limit]
    )
    names = {r.pk: r.name for r in Reward.objects.filter(pk__in=[c["reward_id"] for c in counts])}
    return [(names.get(c["reward_id"], "?"), c["n"]) for c in counts]


# Cohorts -----------------------------------------------------------------------------------

COHORT_MONTHS = 12  # months after joining shown


def cohorts_refresh(now: datetime | None = None) -> int:
    """Rebuild the monthly cohorts from the daily activity counters (the nightly job)."""
    zone = timezone.get_default_timezone()
    rows = (
        MemberActivity.objects.filter(purchases__gt=0)
        .annotate(cohort=TruncMonth("member__created_at", tzinfo=zone), month=TruncMonth("day"))
        .values("cohort", "month")
        .annotate(members=Count("member_id", distinct=True), revenue=Sum("spend"))
    )
    months = [
        CohortMonth(
            cohort=_as_date(row["cohort"]),
            month=_as_date(row["month"]),
            members=row["members"],
            revenue=row["revenue"] or Decimal("0"),
        )
        for row in rows
    ]
    with transaction.atomic():
        CohortMonth.objects.all().delete()
        CohortMonth.objects.bulk_create(months)
    return len(months)


def _as_date(value: date | datetime) -> date:
    return timezone.localtime(value).date() if isinstance(value, datetime) else value


@dataclass
class CohortRow:
    cohort: date
    size: int
    # Per month since joining (0 = the month they joined): share who bought, and the
    # revenue per member of the cohort so far (LTV), or None for months still to come.
    retention: list[float | None]
    lifetime_value: list[Decimal | None]


def cohort_table(first: date, last: date, *, today: date | None = None) -> list[CohortRow]:
    """Cohorts that joined from `first`'s month to `last`'s month."""
    today = today or timezone.localdate()
    zone = timezone.get_default_timezone()
    start, end = days_bounds(first.replace(day=1), last)
    sizes = {
        _as_date(row["cohort"]): row["n"]
        for row in Member.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(cohort=TruncMonth("created_at", tzinfo=zone))
        .values("cohort")
        .annotate(n=Count("id"))
    }
    activity: dict[date, dict[int, CohortMonth]] = defaultdict(dict)
    for row in CohortMonth.objects.filter(cohort__in=list(sizes)):
        activity[row.cohort][_months_between(row.cohort, row.month)] = row
    table = []
    for cohort in sorted(sizes):
        size = sizes[cohort]
        elapsed = _months_between(cohort, today.replace(day=1))
        retention: list[float | None] = []
        lifetime: list[Decimal | None] = []
        spent = Decimal("0")
        for offset in range(COHORT_MONTHS):
            if offset > elapsed:
                retention.append(None)
                lifetime.append(None)
                continue
            month = activity[cohort].get(offset)
            retention.append(month.members / size if month else 0.0)
            spent += month.revenue if month else Decimal("0")
            lifetime.append((spent / size).quantize(Decimal("0.01")))
        table.append(CohortRow(cohort, size, retention, lifetime))
    return table


def _months_between(first: date, later: date) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def non_member_sales_record(
    *,
    partner: Partner,
    outlet: Outlet | None,
    day: date,
    receipts: int,
    revenue: Decimal,
    now: datetime | None = None,
) -> NonMemberSales:
    """A POS's totals of one day's receipts without a card. A later report of the same
    day replaces the earlier one: tills send running totals."""
    now = now or timezone.now()
    if day > timezone.localdate(now):
        raise InvalidRequest(_("The day has not come yet."), field="day")
    if revenue > 0 and receipts == 0:
        raise InvalidRequest(
            _("Revenue without receipts: give the number of receipts."), field="receipts"
        )
    sales, _created = NonMemberSales.objects.update_or_create(
        partner=partner,
        outlet=outlet,
        day=day,
        defaults={"receipts": receipts, "revenue": revenue, "updated_at": now},
    )
    return sales
