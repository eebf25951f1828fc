"""Event bonuses: given once per member, event and period (sign-up, completed profile, a
birthday a year, each feedback), the referral's two sides, and events a till reports."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner

from ..badges import (
    EVENT_BADGE_RULES,
    EarnedBadge,
    badges_earned,
    event_badges_award,
    event_badges_exist,
)
from ..exceptions import (
    Conflict,
    InvalidRequest,
)
from ..ledger import (
    Code,
    Kind,
    MemberAccounts,
    available_credit,
    card_accounts_lock,
    member_accounts_lock,
    system_account,
)
from ..models import (
    EventAward,
    EventBonus,
)
from ..program import (
    points_expire_at,
    program_settings,
)
from ..selectors import (
    ShortBalance,
    accounts_short_balance,
    event_bonuses_snapshot,
)


@dataclass(frozen=True)
class EventRewarded:
    """What a reported event gave: its points (0 if only badges) and badges."""

    event: str
    points_awarded: int
    balance: ShortBalance
    badges: tuple[EarnedBadge, ...] = ()


def event_award(
    accounts: MemberAccounts, partner: Partner, event: str, period: str, points: int, now: datetime
) -> int:
    """Give an event bonus once per member, event and period. Returns the points given
    (0 if it was already given)."""
    assert accounts.available.member_id is not None
    try:
        with transaction.atomic():  # a savepoint: a repeat leaves the caller's work intact
            EventAward.objects.create(
                member_id=accounts.available.member_id,
                event=event,
                period=period,
                points=points,
                created_at=now,
            )
    except IntegrityError:
        return 0
    if points:
        available_credit(
            accounts=accounts,
            source=system_account(Kind.ISSUED, partner),
            amount=points,
            code=Code.BONUS,
            expires_at=points_expire_at(program_settings(), now),
            reference=f"event:{event}",
            now=now,
        )
    return points


@transaction.atomic
def referrer_bonus_award(*, referrer_id: int, referee_id: int, partner: Partner) -> int:
    """The inviting member's side of a referral, once per friend who joined."""
    bonus = event_bonuses_snapshot().get(EventBonus.Event.REFERRAL)
    if bonus is None or not bonus.referrer_points:
        return 0
    accounts = member_accounts_lock(referrer_id)
    period = f"referred:{referee_id}"
    return event_award(
        accounts, partner, bonus.event, period, bonus.referrer_points, timezone.now()
    )


@transaction.atomic
def one_time_bonus_award(
    *, member_id: int, event: str, partner: Partner, now: datetime | None = None
) -> int:
    """A bonus given once in a member's life (sign-up, completed profile); 0 if given."""
    bonus = event_bonuses_snapshot().get(event)
    if bonus is None:
        return 0
    accounts = member_accounts_lock(member_id)
    return event_award(accounts, partner, bonus.event, "", bonus.points, now or timezone.now())


def event_record(
    *,
    partner: Partner,
    card_number: str,
    event: str,
    occurrence: str | None = None,
    now: datetime | None = None,
) -> EventRewarded:
    """An event reported by a POS or partner (profile completed, feedback, birthday).

    Profile completion is rewarded once, a birthday once a year, and each feedback once
    per `occurrence` (the API's idempotency key; without one, every report is new).
    """
    if event not in EventBonus.REPORTABLE:
        raise InvalidRequest(_("This event cannot be reported."), field="event")
    now = now or timezone.now()
    with transaction.atomic():
        bonus = event_bonuses_snapshot().get(event)
        badge_rule = EVENT_BADGE_RULES.get(event)
        if bonus is None and not (badge_rule and event_badges_exist(badge_rule)):
            raise Conflict(_("No bonus is configured for this event."))
        _card, accounts = card_accounts_lock(card_number)
        period = {
            EventBonus.Event.PROFILE_COMPLETED: "",
            EventBonus.Event.BIRTHDAY: str(timezone.localtime(now).year),
            EventBonus.Event.FEEDBACK: f"key:{occurrence or now.isoformat()}",
        }[EventBonus.Event(event)]
        bonus_points = bonus.points if bonus is not None else 0
        points = event_award(accounts, partner, event, period, bonus_points, now)
        if not points and bonus_points:
            raise Conflict(_("This event was already rewarded for this member."))
        badges = (
            event_badges_award(accounts, badge_rule, reference=f"event:{event}", now=now)
            if badge_rule
            else []
        )
        earned = badges_earned(badges) if badges else ()
        return EventRewarded(event, points, accounts_short_balance(accounts), earned)
