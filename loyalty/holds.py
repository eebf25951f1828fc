"""Two-phase burn for partners: reserve a member's points, then capture or void them.

Locks: creating a hold locks the member's accounts (like any debit);
resolving one locks the hold row first, then, to give points back, the
member's accounts. Nothing locks accounts and then a hold, so the two orders
never cross. The row lock is what makes a hold resolve exactly once when
capture and void calls race.
"""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from partners.models import Outlet, Partner
from partners.webhooks import webhook_event_record

from .exceptions import Conflict, InsufficientPoints, InvalidRequest, NotFound
from .ledger import (
    Code,
    Kind,
    card_accounts_lock,
    lots_fifo_take,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from .models import Hold
from .program import MAX_POINTS


def hold_create(
    *,
    partner: Partner,
    card_number: str,
    points: int,
    minutes: int | None = None,
    reference: str = "",
    outlet: Outlet | None = None,
    now: datetime | None = None,
) -> Hold:
    """Reserve `points` of the card's member for up to `minutes` (the program's default)."""
    minutes = minutes or settings.HOLD_MINUTES_DEFAULT
    if not 1 <= minutes <= settings.HOLD_MINUTES_MAX:
        raise InvalidRequest(
            _("A hold lasts 1 to %(max)d minutes.") % {"max": settings.HOLD_MINUTES_MAX},
            field="minutes",
        )
    if points <= 0:
        raise InvalidRequest(_("Points to hold must be positive."), field="points")
    if points > MAX_POINTS:
        raise InvalidRequest(_("That is more points than anyone holds."), field="points")
    now = now or timezone.now()
    with transaction.atomic():
        card, accounts = card_accounts_lock(card_number)
        if accounts.available.balance < points:
            raise InsufficientPoints(  # without the balance: see loyalty.services.purchases
                _("The member does not have %(requested)d points available.")
                % {"requested": points}
            )
        taken = lots_fifo_take(accounts.available, points)
        transfer = transfer_post(
            debit=accounts.available,
            credit=system_account(Kind.HELD, partner),
            amount=points,
            code=Code.PARTNER_HOLD,
            reference=reference,
            now=now,
        )
        assert card.member_id is not None
        hold = Hold.objects.create(
            partner=partner,
            outlet=outlet,
            member_id=card.member_id,
            card=card,
            points=points,
            reference=reference,
            lots_taken=[[when.isoformat() if when else None, take] for when, take in taken],
            hold_transfer=transfer,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        return hold


def _hold_locked(partner: Partner, outlet: Outlet | None, hold_id: int) -> Hold:
    holds = Hold.objects.select_for_update(of=("self",)).select_related("card")
    holds = holds.filter(pk=hold_id, partner=partner)
    if outlet is not None:
        holds = holds.filter(outlet=outlet)  # a key of one outlet resolves its own holds
    hold = holds.first()
    if hold is None:
        # Another partner's (or outlet's) hold answers like a missing one.
        raise NotFound(_("No such hold."))
    return hold


def hold_capture(
    *, partner: Partner, hold_id: int, outlet: Outlet | None = None, now: datetime | None = None
) -> Hold:
    """Take the held points for good; a repeated capture answers the same."""
    now = now or timezone.now()
    with transaction.atomic():
        hold = _hold_locked(partner, outlet, hold_id)
        if hold.status == Hold.Status.CAPTURED:
            return hold
        if hold.status == Hold.Status.VOIDED:
            raise Conflict(_("This hold was already voided."))
        if hold.status == Hold.Status.EXPIRED or hold.expires_at <= now:
            raise Conflict(_("This hold has expired; its points went back to the member."))
        transfer_post(
            debit=system_account(Kind.HELD, partner),
            credit=system_account(Kind.REDEEMED, partner),
            amount=hold.points,
            code=Code.PARTNER_BURN,
            reference=f"hold:{hold.pk}",
            now=now,
        )
        webhook_event_record(
            partner_id=partner.pk, event="points.redeemed", data=_hold_event(hold), now=now
        )
        return _resolve(hold, Hold.Status.CAPTURED, now)


def hold_void(
    *, partner: Partner, hold_id: int, outlet: Outlet | None = None, now: datetime | None = None
) -> Hold:
    """Give the held points back; a repeated void answers the same."""
    now = now or timezone.now()
    with transaction.atomic():
        hold = _hold_locked(partner, outlet, hold_id)
        if hold.status in (Hold.Status.VOIDED, Hold.Status.EXPIRED):
            return hold
        if hold.status == Hold.Status.CAPTURED:
            raise Conflict(_("This hold was already captured."))
        _points_give_back(hold, now)
        return _resolve(hold, Hold.Status.VOIDED, now)


def _hold_event(hold: Hold) -> dict[str, Any]:
    return {
        "hold": hold.pk,
        "card": hold.card.number,
        "points": hold.points,
        "reference": hold.reference,
    }


def _points_give_back(hold: Hold, now: datetime) -> None:
    """The held points return to the member with the expiry dates they had."""
    accounts = member_accounts_lock(hold.member_id)
    held = system_account(Kind.HELD, hold.partner)
    for expires_at, points in hold.lots_taken:
        transfer_post(
            debit=held,
            credit=accounts.available,
            amount=points,
            code=Code.PARTNER_HOLD_RELEASE,
            reference=f"hold:{hold.pk}",
            lot_expires_at=parse_datetime(expires_at) if expires_at else None,
            now=now,
        )


def _resolve(hold: Hold, status: str, now: datetime) -> Hold:
    hold.status = status
    hold.resolved_at = now
    hold.save(update_fields=["status", "resolved_at"])
    return hold


def holds_expire_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Give back the points of holds that ran out (beat: every minute)."""
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            due = list(
                Hold.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("partner", "card")
                .filter(status=Hold.Status.HELD, expires_at__lte=now)
                .order_by("member_id", "id")[:batch_size]
            )
            for hold in due:
                _points_give_back(hold, now)
                _resolve(hold, Hold.Status.EXPIRED, now)
                webhook_event_record(
                    partner_id=hold.partner_id, event="hold.expired", data=_hold_event(hold)
                )
        released += len(due)
        if len(due) < batch_size:
            return released
