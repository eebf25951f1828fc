"""Running journeys: each step fires on its day.

One beat tick takes due entries in batches (skipping rows another worker holds),
runs every step that is due, and moves each entry on. A step's outcome is a
`JourneyMessage` row, unique per entry and step, written in the same transaction
as its action: points, a badge or an offer happen exactly once. A message is
claimed ("sending") in that transaction and sent after it commits; a worker that
dies between the two leaves it unconfirmed, never sent twice.
"""

import secrets
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from members.models import Member
from partners.selectors import operator_partner
from rewards.services import personal_offer_issue

from ..badges import BadgeSpec, badge_award
from ..ledger import Kind, available_credit, member_accounts_lock, system_account
from ..models import (
    JourneyEntry,
    JourneyMessage,
    JourneyStep,
    Purchase,
    Transfer,
)
from ..program import points_expire_at, program_settings
from .entering import BATCH
from .messages import journey_message_deliver


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
