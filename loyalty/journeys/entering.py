"""Entering journeys: members enter on a trigger.

Event triggers (card issued, first purchase, registered, tier changed) enter the
member where the event happens, with one insert that ignores repeats. The other
triggers are found by a daily scan. Each entrant is put in the control group or
not by a hash of journey and member: stable, and random across members. Control
entrants get nothing at all.
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Max, Min
from django.utils import timezone

from members.models import Member

from ..cache import ProcessCache
from ..ledger import Kind
from ..models import (
    Journey,
    JourneyEntry,
    Lot,
    MemberActivity,
)

BATCH = 500
# The daily scan looks this far back, so a day the job did not run is caught up.
SCAN_CATCH_UP = timedelta(days=7)


@dataclass(frozen=True)
class JourneySpec:
    id: int
    trigger: str
    trigger_days: int | None
    control_share: Decimal
    first_delay_days: int | None  # None: the journey has no steps


def _journeys_load() -> tuple[JourneySpec, ...]:
    journeys = Journey.objects.filter(is_active=True).annotate(first_delay=Min("steps__delay_days"))
    return tuple(
        JourneySpec(j.pk, j.trigger, j.trigger_days, j.control_share, j.first_delay)
        for j in journeys
    )


_journeys_cache = ProcessCache(_journeys_load)


def active_journeys() -> tuple[JourneySpec, ...]:
    return _journeys_cache.get()


def journeys_cache_clear() -> None:
    _journeys_cache.clear()


def journeys_listen(trigger: str) -> bool:
    """Whether an active journey starts on `trigger` (callers skip work when not)."""
    return any(journey.trigger == trigger for journey in active_journeys())


def is_control(journey_id: int, member_id: int, share: Decimal) -> bool:
    """The member's group in the journey: the same every time it is asked."""
    digest = hashlib.sha256(f"journey:{journey_id}:member:{member_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2**64) < share


def journeys_enter(trigger: str, member_ids: Iterable[int], *, now: datetime, key: str = "") -> int:
    """Enter members into every active journey that starts on `trigger` (once per key)."""
    journeys = [journey for journey in active_journeys() if journey.trigger == trigger]
    if not journeys:
        return 0
    member_ids = list(member_ids)
    return sum(_enter_one(journey, member_ids, now=now, key=key) for journey in journeys)


def _entry(journey: JourneySpec, member_id: int, *, now: datetime, key: str) -> JourneyEntry:
    control = is_control(journey.id, member_id, journey.control_share)
    idle = control or journey.first_delay_days is None
    return JourneyEntry(
        journey_id=journey.id,
        member_id=member_id,
        key=key,
        is_control=control,
        entered_at=now,
        next_due_at=None if idle else now + timedelta(days=journey.first_delay_days or 0),
        finished_at=now if idle else None,
    )


# The daily scan ---------------------------------------------------------------------------


def journeys_enter_scheduled(now: datetime | None = None) -> int:
    """Enter the members of the scanned triggers (the daily job); returns the entries."""
    now = now or timezone.now()
    entered = 0
    for journey in active_journeys():
        if journey.trigger in Journey.SCANNED:
            for member_ids, key in _scan(journey, now):
                for start in range(0, len(member_ids), BATCH):
                    chunk = member_ids[start : start + BATCH]
                    entered += _enter_one(journey, chunk, now=now, key=key)
    return entered


def _enter_one(journey: JourneySpec, member_ids: Sequence[int], *, now: datetime, key: str) -> int:
    """Enter those not yet in for `key`; returns how many entered. The unique constraint
    still guards the race of two entering at once (the insert ignores conflicts)."""
    already = set(
        JourneyEntry.objects.filter(
            journey_id=journey.id, key=key, member_id__in=member_ids
        ).values_list("member_id", flat=True)
    )
    entries = [
        _entry(journey, member_id, now=now, key=key)
        for member_id in member_ids
        if member_id not in already
    ]
    JourneyEntry.objects.bulk_create(entries, ignore_conflicts=True)
    return len(entries)


def _scan(journey: JourneySpec, now: datetime) -> list[tuple[list[int], str]]:
    """Who meets a scanned trigger now, grouped by the key that makes them enter once."""
    days = timedelta(days=journey.trigger_days or 0)
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    if journey.trigger == Journey.Trigger.NOT_REGISTERED:
        members = active.filter(
            user__isnull=True,
            cards__issued_at__lte=now - days,
            cards__issued_at__gt=now - days - SCAN_CATCH_UP,
        )
        return [(list(members.values_list("pk", flat=True).distinct()), "")]
    if journey.trigger == Journey.Trigger.BIRTHDAY:
        today = timezone.localdate(now)
        members = active.filter(birth_date__month=today.month, birth_date__day=today.day)
        return [(list(members.values_list("pk", flat=True)), str(today.year))]
    if journey.trigger == Journey.Trigger.INACTIVE:
        # The member's last day with a purchase, from the daily counters.
        today = timezone.localdate(now)
        last = (
            MemberActivity.objects.filter(purchases__gt=0, member__status=Member.Status.ACTIVE)
            .values("member_id")
            .annotate(last=Max("day"))
            .filter(last__lte=today - days, last__gt=today - days - SCAN_CATCH_UP)
        )
        by_day: dict[str, list[int]] = defaultdict(list)
        for member_id, last_day in last.values_list("member_id", "last"):
            by_day[last_day.isoformat()].append(member_id)
        return list((members, f"last:{day}") for day, members in by_day.items())
    if journey.trigger == Journey.Trigger.POINTS_EXPIRING:
        soon = (
            Lot.objects.filter(
                remaining__gt=0,
                account__kind=Kind.AVAILABLE,
                expires_at__gt=now,
                expires_at__lte=now + days,
                account__member__status=Member.Status.ACTIVE,
            )
            .values("account__member_id")
            .annotate(first=Min("expires_at"))
        )
        by_date: dict[str, list[int]] = defaultdict(list)
        for member_id, first in soon.values_list("account__member_id", "first"):
            by_date[f"expiring:{timezone.localdate(first).isoformat()}"].append(member_id)
        return [(members, key) for key, members in by_date.items()]
    return []
