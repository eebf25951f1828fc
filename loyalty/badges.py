"""Badges: awarded on the event that earns them, once per member, some with points.

Purchases check their badges inside the purchase's transaction (the member's
accounts are already locked). Badges earned through someone else's doing (a
friend's first purchase) or by the nightly tier sweep are awarded after the
commit, in a transaction of their own, so no path ever holds two members'
locks or takes accounts after tier rows.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from partners.selectors import operator_partner

from .cache import ProcessCache
from .ledger import Kind, MemberAccounts, available_credit, member_accounts_lock, system_account
from .models import Badge, MemberBadge, Purchase, Transfer
from .program import points_expire_at, program_settings


@dataclass(frozen=True)
class BadgeSpec:
    id: int
    rule: str
    count: int | None
    minimum: Decimal | None
    tier_id: int | None
    points: int


def _badges_load() -> tuple[BadgeSpec, ...]:
    return tuple(
        BadgeSpec(b.pk, b.rule, b.count, b.minimum, b.tier_id, b.points)
        for b in Badge.objects.filter(is_active=True).order_by("position", "id")
    )


_badges_cache = ProcessCache(_badges_load)


def active_badges() -> tuple[BadgeSpec, ...]:
    return _badges_cache.get()


def badges_cache_clear() -> None:
    _badges_cache.clear()


PURCHASE_RULES = (
    Badge.Rule.FIRST_PURCHASE,
    Badge.Rule.RECORD_RECEIPT,
    Badge.Rule.RECORD_ITEMS,
    Badge.Rule.PURCHASES_IN_MONTH,
)


def badge_award(
    accounts: MemberAccounts, badge: BadgeSpec, *, reference: str, now: datetime
) -> bool:
    """Give `badge` (and its points) to the member whose accounts are locked; False if
    they already hold it."""
    member_id = accounts.available.member_id
    assert member_id is not None
    try:
        with transaction.atomic():  # a savepoint: a repeat leaves the caller's work intact
            MemberBadge.objects.create(
                member_id=member_id,
                badge_id=badge.id,
                points=badge.points,
                reference=reference,
                awarded_at=now,
            )
    except IntegrityError:
        return False
    if badge.points:
        available_credit(
            accounts=accounts,
            source=system_account(Kind.ISSUED, operator_partner()),
            amount=badge.points,
            code=Transfer.Code.BADGE,
            expires_at=points_expire_at(program_settings(), now),
            reference=f"badge:{badge.id}",
            now=now,
        )
    return True


def purchase_badges_award(
    accounts: MemberAccounts, purchase: Purchase, *, first_purchase: bool, now: datetime
) -> list[BadgeSpec]:
    """The badges this purchase earns; call after its activity counters are updated."""
    badges = [badge for badge in active_badges() if badge.rule in PURCHASE_RULES]
    if not badges:
        return []
    held = set(
        MemberBadge.objects.filter(member_id=purchase.member_id).values_list("badge_id", flat=True)
    )
    earned = []
    for badge in badges:
        # A record moves whoever beats it, even a member who already holds the badge.
        beaten = badge.rule in Badge.RECORDS and _record_beat(badge, purchase)
        if badge.id in held:
            continue
        earns = beaten or _purchase_earns(badge, purchase, first_purchase, now)
        if earns and badge_award(accounts, badge, reference=f"purchase:{purchase.pk}", now=now):
            earned.append(badge)
    return earned


def _purchase_earns(badge: BadgeSpec, purchase: Purchase, first: bool, now: datetime) -> bool:
    if badge.rule == Badge.Rule.FIRST_PURCHASE:
        return first
    if badge.rule == Badge.Rule.PURCHASES_IN_MONTH:
        assert badge.count is not None
        return purchases_this_month(purchase.member_id, timezone.localdate(now)) >= badge.count
    return False


def purchase_record_value(badge_rule: str, purchase: Purchase) -> Decimal:
    """What a record rule measures: the receipt amount, or its number of item lines."""
    if badge_rule == Badge.Rule.RECORD_ITEMS:
        return Decimal(len(purchase.items or []))
    return purchase.amount


def _record_beat(badge: BadgeSpec, purchase: Purchase) -> bool:
    """Raise the program's record if this receipt beats it (one conditional UPDATE, so
    two receipts at once cannot both set the same record)."""
    value = purchase_record_value(badge.rule, purchase)
    if badge.minimum is not None and value < badge.minimum:
        return False
    if not value:
        return False
    return bool(
        Badge.objects.filter(pk=badge.id)
        .filter(Q(record__isnull=True) | Q(record__lt=value))
        .update(record=value)
    )


def purchases_this_month(member_id: int, today: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(purchases), 0) FROM loyalty_memberactivity "
            "WHERE member_id = %s AND day >= %s",
            [member_id, today.replace(day=1)],
        )
        return int(cursor.fetchone()[0])


def _badges_of_rule(rule: str) -> list[BadgeSpec]:
    return [badge for badge in active_badges() if badge.rule == rule]


def event_badges_exist(rule: str) -> bool:
    return any(badge.rule == rule for badge in active_badges())


# Member events reported through the API that earn badges.
EVENT_BADGE_RULES = {"feedback": Badge.Rule.FEEDBACK}


@dataclass(frozen=True)
class EarnedBadge:
    badge: int
    name: str  # in the request's language
    points: int


def badges_earned(badges: Sequence[BadgeSpec]) -> tuple[EarnedBadge, ...]:
    """Badges just earned, with their names, as the purchase and event answers list them."""
    names = {b.pk: b.name for b in Badge.objects.filter(pk__in=[badge.id for badge in badges])}
    return tuple(EarnedBadge(badge.id, names.get(badge.id, ""), badge.points) for badge in badges)


def event_badges_award(
    accounts: MemberAccounts, rule: str, *, reference: str, now: datetime
) -> list[BadgeSpec]:
    """Badges of a member event (feedback) for the member whose accounts are locked."""
    return [
        badge
        for badge in _badges_of_rule(rule)
        if badge_award(accounts, badge, reference=reference, now=now)
    ]


@transaction.atomic
def referral_badges_award(*, referrer_id: int, referee_id: int) -> int:
    """The inviting member's first-referral badge, once their friend has bought."""
    badges = _badges_of_rule(Badge.Rule.FIRST_REFERRAL)
    if not badges:
        return 0
    accounts = member_accounts_lock(referrer_id)
    now = timezone.now()
    reference = f"referral:{referee_id}"
    return sum(badge_award(accounts, badge, reference=reference, now=now) for badge in badges)


def tier_badges_award_later(moves: Iterable[tuple[int, int]]) -> None:
    """After the commit, give the badges of tiers members just reached: (member, tier)."""
    wanted = {badge.tier_id: badge for badge in _badges_of_rule(Badge.Rule.TIER_REACHED)}
    due = [(member_id, wanted[tier_id]) for member_id, tier_id in moves if tier_id in wanted]
    if due:
        transaction.on_commit(lambda: _tier_badges_award(due))


def _tier_badges_award(due: Sequence[tuple[int, BadgeSpec]]) -> None:
    now = timezone.now()
    for member_id, badge in due:
        with transaction.atomic():
            accounts = member_accounts_lock(member_id)
            badge_award(accounts, badge, reference=f"tier:{badge.tier_id}", now=now)


ANNIVERSARY_BATCH = 500


def anniversary_badges_award(today: date | None = None) -> int:
    """The daily job: anniversary badges of members N years in the program by today.

    A member joined when their first card was issued (a legacy card's own
    date) or, without one, when they were created. Returns the badges given.
    """
    today = today or timezone.localdate()
    given = 0
    for badge in _badges_of_rule(Badge.Rule.ANNIVERSARY):
        assert badge.count is not None
        joined_by = _years_before(today, badge.count)
        while True:
            member_ids = _anniversary_due(badge, joined_by)
            if not member_ids:
                break
            given += _badge_award_many(badge, member_ids, reference=f"anniversary:{today}")
    return given


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def anniversary_on(joined: date, years: int) -> date:
    """The day the job gives the anniversary badge of `years` to a member who joined on
    `joined`: the same date, or 1 March for a 29 February outside leap years."""
    try:
        return joined.replace(year=joined.year + years)
    except ValueError:
        return date(joined.year + years, 3, 1)


def _anniversary_due(badge: BadgeSpec, joined_by: date) -> list[int]:
    """Members who joined on or before `joined_by` and lack the badge (a batch)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.id FROM members_member m
            WHERE m.status = 'active'
              AND COALESCE(
                    (SELECT MIN(c.issued_at) FROM members_card c WHERE c.member_id = m.id),
                    m.created_at
                  ) < %s
              AND NOT EXISTS (
                    SELECT 1 FROM loyalty_memberbadge b
                    WHERE b.member_id = m.id AND b.badge_id = %s
              )
            ORDER BY m.id
            LIMIT %s
            """,
            [
                datetime.combine(
                    joined_by + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone()
                ),
                badge.id,
                ANNIVERSARY_BATCH,
            ],
        )
        return [row[0] for row in cursor.fetchall()]


def _badge_award_many(badge: BadgeSpec, member_ids: Sequence[int], *, reference: str) -> int:
    now = timezone.now()
    given = 0
    with transaction.atomic():
        for member_id in member_ids:
            accounts = member_accounts_lock(member_id)
            given += badge_award(accounts, badge, reference=reference, now=now)
    return given
