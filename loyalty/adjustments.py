"""Manual point adjustments by staff, with a second person's approval above a threshold.

An adjustment within the program's threshold is applied at once; a larger one (counting
what the same person adjusted for the same member in the last 24 hours) waits until
another staff member with the approve permission accepts it (the
requester never can: the database refuses it too). Every adjustment, applied
or not, stays on record with who asked and who decided.
"""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member

from .exceptions import Conflict, InvalidRequest
from .ledger import (
    Code,
    Kind,
    available_credit,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from .models import PointsAdjustment
from .program import points_expire_at, program_settings

Status = PointsAdjustment.Status


@transaction.atomic
def adjustment_request(*, member: Member, points: int, reason: str, by: User) -> PointsAdjustment:
    """Record an adjustment; apply it now if it is within the approval threshold."""
    reason = reason.strip()
    if points == 0:
        raise InvalidRequest(_("An adjustment adds or takes at least one point."), field="points")
    if not reason:
        raise InvalidRequest(_("Say why: the reason is kept with the adjustment."), field="reason")
    # The threshold holds for what one person moved for one member in a day, so that a
    # large adjustment split into small ones still waits for a second person.
    Member.objects.select_for_update().filter(pk=member.pk).exists()  # one at a time
    moved = sum(
        abs(earlier)
        for earlier in PointsAdjustment.objects.filter(
            member=member,
            requested_by=by,
            status__in=[Status.APPLIED, Status.PENDING],
            created_at__gte=timezone.now() - timedelta(days=1),
        ).values_list("points", flat=True)
    )
    needs_approval = moved + abs(points) > program_settings().adjustment_approval_threshold
    adjustment = PointsAdjustment.objects.create(
        member=member,
        points=points,
        reason=reason,
        requested_by=by,
        status=Status.PENDING if needs_approval else Status.APPLIED,
        decided_at=None if needs_approval else timezone.now(),
    )
    if not needs_approval:
        _apply(adjustment)
    return adjustment


@transaction.atomic
def adjustment_approve(*, adjustment_id: int, by: User) -> PointsAdjustment:
    """A second staff member accepts a pending adjustment: it is applied, once."""
    adjustment = _decide(adjustment_id, by, Status.APPLIED)
    _apply(adjustment)
    return adjustment


@transaction.atomic
def adjustment_reject(*, adjustment_id: int, by: User) -> PointsAdjustment:
    return _decide(adjustment_id, by, Status.REJECTED)


def _decide(adjustment_id: int, by: User, status: str) -> PointsAdjustment:
    """Record `by`'s decision on a pending adjustment (locked: one decision wins)."""
    adjustment = PointsAdjustment.objects.select_for_update().get(pk=adjustment_id)
    if adjustment.status != Status.PENDING:
        raise Conflict(_("This adjustment was already decided."))
    if adjustment.requested_by_id == by.pk:
        raise Conflict(_("Someone else than the requester has to approve an adjustment."))
    adjustment.status = status
    adjustment.approved_by = by
    adjustment.decided_at = timezone.now()
    adjustment.save(update_fields=["status", "approved_by", "decided_at"])
    return adjustment


def _apply(adjustment: PointsAdjustment) -> None:
    points_adjust(
        member=adjustment.member,
        points=adjustment.points,
        reason=f"{adjustment.reason} (#{adjustment.pk})",
    )


@transaction.atomic
def points_adjust(*, member: Member, points: int, reason: str, now: datetime | None = None) -> int:
    """Staff correction: credit (points > 0) or debit (points < 0) available points.

    Returns the change to the available balance (a credit first repays debt).
    """
    if points == 0 or not reason.strip():
        raise InvalidRequest(_("An adjustment needs non-zero points and a reason."))
    now = now or timezone.now()
    accounts = member_accounts_lock(member.pk)
    adjustments = system_account(Kind.ADJUSTMENTS)
    if points > 0:
        return available_credit(
            accounts=accounts,
            source=adjustments,
            amount=points,
            code=Code.ADJUSTMENT,
            expires_at=points_expire_at(program_settings(), now),
            reference=reason,
            now=now,
        )
    transfer_post(
        debit=accounts.available,
        credit=adjustments,
        amount=-points,
        code=Code.ADJUSTMENT,
        reference=reason,
        now=now,
    )
    return points
