"""The paid club: joining and renewing a plan, and expiring memberships that ran out.

A membership gives the plan's club tier until its paid period ends. Renewing
the same plan while it runs extends it from its current end; another plan of
the same club ladder has to wait until the current one ends.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from members.models import Member
from partners.models import Partner

from .exceptions import Conflict, InvalidRequest
from .ledger import card_accounts_lock, member_accounts_lock
from .models import ClubMembership, ClubPlan, MemberTier, TierChange, TierLadder
from .tier_moves import tier_moves_announce
from .tiers import Staff, member_tiers_lock, staff_user, tier_changes_save


def club_join(
    *,
    member_id: int,
    plan: ClubPlan,
    partner: Partner | None = None,
    by: Staff = None,
    now: datetime | None = None,
) -> ClubMembership:
    """Join the club on `plan`, or renew it; the fee is taken by the caller (till, shop)."""
    with transaction.atomic():
        member_accounts_lock(member_id)
        return _club_join_locked(member_id, plan, partner, by, now or timezone.now())


def club_join_by_card(
    *,
    partner: Partner,
    card_number: str,
    plan_id: int,
    now: datetime | None = None,
) -> ClubMembership:
    """`club_join` for the API: by card number."""
    with transaction.atomic():
        plan = ClubPlan.objects.select_related("tier__ladder").filter(pk=plan_id).first()
        if plan is None:
            raise InvalidRequest(_("No such club plan."), field="plan")
        card, _accounts = card_accounts_lock(card_number)
        assert card.member_id is not None
        return _club_join_locked(card.member_id, plan, partner, None, now or timezone.now())


def _club_join_locked(
    member_id: int,
    plan: ClubPlan,
    partner: Partner | None,
    by: Staff,
    now: datetime,
) -> ClubMembership:
    if not plan.is_active:
        raise InvalidRequest(_("This club plan is closed for joining."), field="plan")
    if not Member.objects.filter(pk=member_id, status=Member.Status.ACTIVE).exists():
        raise Conflict(_("Only an active member can join the club."))
    ladder = plan.tier.ladder
    row = next((r for r in member_tiers_lock(member_id) if r.ladder_id == ladder.pk), None)
    current = row if row is not None and row.valid_until and row.valid_until > now else None
    if current is not None and current.tier_id != plan.tier_id:
        raise Conflict(
            _("The member holds another plan of this club until %(date)s.")
            % {"date": date_format(timezone.localtime(current.valid_until), "DATE_FORMAT")}
        )
    starts_at = current.valid_until if current is not None and current.valid_until else now
    ends_at = starts_at + timedelta(days=plan.validity_days)
    membership = ClubMembership.objects.create(
        member_id=member_id,
        plan=plan,
        starts_at=starts_at,
        ends_at=ends_at,
        fee=plan.fee,
        partner=partner,
        created_by=staff_user(by),
        created_at=now,
    )
    if row is None:
        MemberTier.objects.create(
            member_id=member_id, ladder=ladder, tier=plan.tier, since=now, valid_until=ends_at
        )
    else:
        if current is None:
            row.since = now
        row.tier = plan.tier
        row.valid_until = ends_at
        row.save(update_fields=["tier", "since", "valid_until"])
    joined = TierChange(
        member_id=member_id,
        ladder=ladder,
        from_tier_id=current.tier_id if current is not None else None,
        to_tier=plan.tier,
        reason=TierChange.Reason.CLUB_JOINED,
        note=plan.name,
        changed_by=membership.created_by,
        created_at=now,
    )
    tier_changes_save([joined])
    tier_moves_announce([joined])
    return membership


def club_memberships_expire(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Take club tiers whose paid period ended; returns how many. Safe to run twice.

    Set-based: batches of due rows through the partial index on the end date,
    deleted with their audit entries in one short transaction each.
    """
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                MemberTier.objects.select_for_update(skip_locked=True)
                .filter(valid_until__lte=now, ladder__window=TierLadder.Window.CLUB)
                .order_by("valid_until", "id")[:batch_size]
            )
            if not rows:
                return expired
            ended = [
                TierChange(
                    member_id=row.member_id,
                    ladder_id=row.ladder_id,
                    from_tier_id=row.tier_id,
                    to_tier=None,
                    reason=TierChange.Reason.CLUB_EXPIRED,
                    created_at=now,
                )
                for row in rows
            ]
            tier_changes_save(ended)
            tier_moves_announce(ended)
            MemberTier.objects.filter(pk__in=[row.pk for row in rows]).delete()
            expired += len(rows)
