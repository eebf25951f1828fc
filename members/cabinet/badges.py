"""The cabinet's badges page: what the member earned, and what each other badge needs."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.badges import anniversary_on, purchases_this_month
from loyalty.models import Badge, MemberBadge
from members.templatetags.locale_format import day, money, points

from ..models import Member


@dataclass(frozen=True)
class BadgeProgress:
    badge: Badge
    earned_at: datetime | None
    missing: str  # what is left to earn it, in the member's words; empty once earned


def member_badges(member: Member, now: datetime) -> list[BadgeProgress]:
    """Every active badge in the marketers' order, earned ones with their date."""
    earned = dict(MemberBadge.objects.filter(member=member).values_list("badge_id", "awarded_at"))
    progress = []
    for badge in Badge.objects.filter(is_active=True).select_related("tier"):
        earned_at = earned.get(badge.pk)
        missing = "" if earned_at else badge_missing(badge, member, now)
        progress.append(BadgeProgress(badge, earned_at, missing))
    return progress


def badge_missing(badge: Badge, member: Member, now: datetime) -> str:
    """What is left for the member to earn `badge`, in their words."""
    rule = badge.rule
    if rule == Badge.Rule.FIRST_PURCHASE:
        return _("Make your first purchase.")
    if rule == Badge.Rule.RECORD_RECEIPT:
        return _amount_record_missing(badge)
    if rule == Badge.Rule.RECORD_ITEMS:
        return _items_record_missing(badge)
    if rule == Badge.Rule.PURCHASES_IN_MONTH:
        left = (badge.count or 0) - purchases_this_month(member.pk, timezone.localdate(now))
        return ngettext(
            "%(count)s more purchase this month.", "%(count)s more purchases this month.", left
        ) % {"count": left}
    if rule == Badge.Rule.FIRST_REFERRAL:
        return _("Invite a friend: the badge comes with their first purchase.")
    if rule == Badge.Rule.FEEDBACK:
        return _("Tell us what you think: at the till or in our survey.")
    if rule == Badge.Rule.TIER_REACHED and badge.tier is not None:
        return _("Reach %(tier)s.") % {"tier": badge.tier.name}
    if rule == Badge.Rule.ANNIVERSARY:
        return _("Comes on %(date)s.") % {"date": day(_anniversary(member, badge.count or 1))}
    return ""


def _amount_record_missing(badge: Badge) -> str:
    if badge.record is not None:
        return _("Beat the record: more than %(amount)s on one receipt.") % {
            "amount": money(badge.record)
        }
    if badge.minimum is not None:
        return _("Set the first record: at least %(amount)s on one receipt.") % {
            "amount": money(badge.minimum)
        }
    return _("Your next purchase can set the first record.")


def _items_record_missing(badge: Badge) -> str:
    if badge.record is not None:
        count = int(badge.record)
        return ngettext(
            "Beat the record: more than %(count)s item on one receipt.",
            "Beat the record: more than %(count)s items on one receipt.",
            count,
        ) % {"count": points(count)}
    if badge.minimum is not None:
        count = int(badge.minimum)
        return ngettext(
            "Set the first record: at least %(count)s item on one receipt.",
            "Set the first record: at least %(count)s items on one receipt.",
            count,
        ) % {"count": points(count)}
    return _("Your next purchase can set the first record.")


def _anniversary(member: Member, years: int) -> date:
    first_card = member.cards.aggregate(first=Min("issued_at"))["first"]
    return anniversary_on(timezone.localdate(first_card or member.created_at), years)
