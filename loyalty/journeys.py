"""Journeys: members enter on a trigger, then each step fires on its day.

- **Entering.** Event triggers (card issued, first purchase, registered, tier
  changed) enter the member where the event happens, with one insert that
  ignores repeats. The other triggers are found by a daily scan. Each entrant
  is put in the control group or not by a hash of journey and member: stable,
  and random across members. Control entrants get nothing at all.
- **Running.** One beat tick takes due entries in batches (skipping rows
  another worker holds), runs every step that is due, and moves each entry on.
  A step's outcome is a `JourneyMessage` row, unique per entry and step, written
  in the same transaction as its action: points, a badge or an offer happen
  exactly once. A message is claimed ("sending") in that transaction and sent
  after it commits; a worker that dies between the two leaves it unconfirmed,
  never sent twice.
"""

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils import timezone

from members.models import Member
from partners.selectors import operator_partner
from rewards.services import personal_offer_issue

from .badges import BadgeSpec, badge_award
from .cache import ProcessCache
from .journey_messages import journey_message_deliver
from .ledger import Kind, available_credit, member_accounts_lock, system_account
from .models import (
    Journey,
    JourneyEntry,
    JourneyMessage,
    JourneyStep,
    Lot,
    MemberActivity,
    Purchase,
    Transfer,
)
from .program import points_expire_at, program_settings

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


# The tick ---------------------------------------------------------------------------------


def journeys_run(now: datetime | None = None) -> int:
    """Run every step that is due (the beat tick); returns the entries moved on."""
    now = now or timezone.now()
    moved = 0
    while True:
        with transaction.atomic():
            entries = list(
                JourneyEntry.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(next_due_at__lte=now, journey__is_active=True)
                .select_related("member", "journey")
                .order_by("next_due_at", "id")[:BATCH]
            )
            if not entries:
                return moved
            steps = _steps_of({entry.journey_id for entry in entries})
            outbox: list[int] = []
            # Ascending member ids: accounts are locked in the order every job uses.
            for entry in sorted(entries, key=lambda e: e.member_id):
                outbox += _entry_advance(entry, steps[entry.journey_id], now)
        for message_id in outbox:
            journey_message_deliver(message_id, now=now)
        moved += len(entries)


def _steps_of(journey_ids: set[int]) -> dict[int, list[JourneyStep]]:
    steps: dict[int, list[JourneyStep]] = defaultdict(list)
    for step in JourneyStep.objects.filter(journey_id__in=journey_ids).order_by(
        "journey_id", "position", "id"
    ):
        steps[step.journey_id].append(step)
    return steps


def _entry_advance(entry: JourneyEntry, steps: list[JourneyStep], now: datetime) -> list[int]:
    """Run the entry's due steps; return the messages to send once committed."""
    outbox = []
    position = entry.next_position
    while (
        position < len(steps)
        and entry.entered_at + timedelta(days=steps[position].delay_days) <= now
    ):
        message = _step_run(entry, steps[position], now)
        if message is not None and message.status == JourneyMessage.Status.SENDING:
            outbox.append(message.pk)
        position += 1
    entry.next_position = position
    if position < len(steps):
        entry.next_due_at = entry.entered_at + timedelta(days=steps[position].delay_days)
    else:
        entry.next_due_at = None
        entry.finished_at = now
    entry.save(update_fields=["next_position", "next_due_at", "finished_at"])
    return outbox


def _step_run(entry: JourneyEntry, step: JourneyStep, now: datetime) -> JourneyMessage | None:
    """The step's outcome for this entry, recorded once; None if it was already run."""
    status, detail = _precheck(entry, step)
    try:
        with transaction.atomic():  # a savepoint: a repeat leaves the batch intact
            message = JourneyMessage.objects.create(
                entry=entry,
                step=step,
                status=status or JourneyMessage.Status.SENDING,
                detail=detail,
                token=secrets.token_urlsafe(16),
                created_at=now,
            )
    except IntegrityError:
        return None
    if status is None and step.action not in JourneyStep.MESSAGES:
        message.detail = _act(entry, step, now)
        message.status = JourneyMessage.Status.DONE
        message.save(update_fields=["status", "detail"])
    return message


def _precheck(entry: JourneyEntry, step: JourneyStep) -> tuple[str | None, str]:
    """Why the step is skipped for this member, if it is: (status, detail)."""
    member = entry.member
    skipped = JourneyMessage.Status.SKIPPED
    if member.status != Member.Status.ACTIVE:
        return skipped, "member not active"
    if step.condition == JourneyStep.Condition.NOT_REGISTERED and member.user_id is not None:
        return skipped, "condition: already registered"
    if step.condition == JourneyStep.Condition.NO_PURCHASE_SINCE_ENTRY and (
        Purchase.objects.filter(member=member, created_at__gte=entry.entered_at).exists()
    ):
        return skipped, "condition: bought since entering"
    channel = {
        JourneyStep.Action.EMAIL: (member.consent_email, bool(member.email)),
        JourneyStep.Action.SMS: (member.consent_sms, bool(member.phone)),
        JourneyStep.Action.PUSH: (member.consent_push, member.user_id is not None),
    }.get(JourneyStep.Action(step.action))
    if channel is not None:
        consented, reachable = channel
        if not consented:
            return skipped, "no consent for this channel"
        if not reachable:
            return skipped, "no address for this channel"
    return None, ""


def _act(entry: JourneyEntry, step: JourneyStep, now: datetime) -> str:
    """Points, a badge or an offer, in the tick's transaction; returns what was done."""
    if step.action == JourneyStep.Action.OFFER:
        assert step.offer_percent is not None
        assert step.offer_days is not None
        voucher = personal_offer_issue(
            member=entry.member,
            title=step.translated("subject", entry.member.language or "en") or entry.journey.name,
            valid_days=step.offer_days,
            discount_percent=step.offer_percent,
            now=now,
        )
        return f"voucher {voucher.code}"
    accounts = member_accounts_lock(entry.member_id)
    if step.action == JourneyStep.Action.POINTS:
        assert step.points
        available_credit(
            accounts=accounts,
            source=system_account(Kind.ISSUED, operator_partner()),
            amount=step.points,
            code=Transfer.Code.BONUS,
            expires_at=points_expire_at(program_settings(), now),
            reference=f"journey:{entry.journey_id}:step:{step.pk}",
            now=now,
        )
        return f"{step.points} points"
    assert step.badge is not None
    badge = step.badge
    spec = BadgeSpec(badge.pk, badge.rule, badge.count, badge.minimum, badge.tier_id, badge.points)
    given = badge_award(accounts, spec, reference=f"journey:{entry.journey_id}", now=now)
    return "badge given" if given else "badge already held"
