"""The member's roadmap: the milestones they are working towards, with progress.

Marketers set the steps (Loyalty program → Roadmap). Without any, the roadmap
is the next tier of each ladder, the three cheapest rewards the member has not
redeemed yet, and the next three badges still to collect.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.badges import purchases_this_month
from loyalty.models import Badge, MemberBadge, MemberTier, RoadmapStep
from loyalty.tiers import TierSpec, member_tier_progress, tier_progress_towards, tier_snapshot
from members.templatetags.locale_format import money, points
from rewards.models import Reward, Voucher
from rewards.selectors import reward_available

from ..models import Member
from .badges import badge_missing

# An automatic path stays short: the next few of each.
AUTOMATIC_REWARDS = 3
AUTOMATIC_BADGES = 3


@dataclass(frozen=True)
class Milestone:
    kind: str  # RoadmapStep.Kind
    title: str
    detail: str  # what is left, or what was achieved
    percent: int
    done: bool
    link: str = ""


def member_roadmap(member: Member, now: datetime, available: int) -> list[Milestone]:
    steps = list(RoadmapStep.objects.filter(is_active=True).select_related("reward", "badge"))
    context = _Context(member, now, available)
    if steps:
        return [context.milestone(step) for step in steps if context.applies(step)]
    return context.automatic()


class _Context:
    """What the milestones are measured against, read once per page."""

    def __init__(self, member: Member, now: datetime, available: int) -> None:
        self.member = member
        self.now = now
        self.available = available
        self.progress = {p.ladder.id: p for p in member_tier_progress(member.pk, now)}
        self.held_ranks = dict(
            MemberTier.objects.filter(member=member).values_list("ladder_id", "tier__rank")
        )
        self.badges = set(
            MemberBadge.objects.filter(member=member).values_list("badge_id", flat=True)
        )
        self.redeemed = set(
            Voucher.objects.filter(member=member, reward__isnull=False).values_list(
                "reward_id", flat=True
            )
        )

    def applies(self, step: RoadmapStep) -> bool:
        if step.reward is not None:
            return step.reward.is_active and reward_available(step.reward, self.now)
        if step.badge is not None:
            return step.badge.is_active
        return step.tier_id in tier_snapshot().tiers

    def milestone(self, step: RoadmapStep) -> Milestone:
        if step.tier_id is not None:
            return self.tier(tier_snapshot().tiers[step.tier_id])
        if step.reward is not None:
            return self.reward(step.reward)
        assert step.badge is not None
        return self.badge(step.badge)

    def automatic(self) -> list[Milestone]:
        milestones = [
            self.tier(progress.goal)
            for progress in self.progress.values()
            if progress.goal is not None and not progress.keeping
        ]
        rewards = [
            reward
            for reward in Reward.objects.filter(is_active=True).order_by("point_cost", "id")
            if reward.pk not in self.redeemed and reward_available(reward, self.now)
        ]
        milestones += [self.reward(reward) for reward in rewards[:AUTOMATIC_REWARDS]]
        badges = [
            badge
            for badge in Badge.objects.filter(is_active=True).select_related("tier")
            if badge.pk not in self.badges
        ]
        milestones += [self.badge(badge) for badge in badges[:AUTOMATIC_BADGES]]
        return milestones

    def tier(self, tier: TierSpec) -> Milestone:
        held_rank = self.held_ranks.get(tier.ladder_id)
        if held_rank is not None and held_rank >= tier.rank:
            return Milestone("tier", tier.name, _("Reached."), 100, True)
        progress = self.progress.get(tier.ladder_id)
        if progress is None:  # a ladder not qualified by spending (the paid club)
            detail = _("Reach %(tier)s.") % {"tier": tier.name}
            return Milestone("tier", tier.name, detail, 0, False)
        percent, missing_spend, missing_purchases = tier_progress_towards(
            tier, progress.spend, progress.purchases
        )
        detail = _tier_detail(tier.name, missing_spend, missing_purchases)
        return Milestone("tier", tier.name, detail, percent, False)

    def reward(self, reward: Reward) -> Milestone:
        link = reverse("cabinet-reward", args=[reward.pk])
        if reward.pk in self.redeemed:
            return Milestone("reward", reward.name, _("Redeemed."), 100, True, link)
        away = reward.point_cost - self.available
        if away <= 0:
            return Milestone(
                "reward", reward.name, _("Within reach: redeem it now."), 100, False, link
            )
        percent = int(self.available * 100 / reward.point_cost)
        detail = ngettext("%(points)s point away.", "%(points)s points away.", away) % {
            "points": points(away)
        }
        return Milestone("reward", reward.name, detail, percent, False, link)

    def badge(self, badge: Badge) -> Milestone:
        link = reverse("cabinet-badges")
        if badge.pk in self.badges:
            return Milestone("badge", badge.name, _("Collected."), 100, True, link)
        percent = 0
        if badge.rule == Badge.Rule.PURCHASES_IN_MONTH and badge.count:
            done = purchases_this_month(self.member.pk, timezone.localdate(self.now))
            percent = min(100, int(done * 100 / badge.count))
        return Milestone(
            "badge", badge.name, badge_missing(badge, self.member, self.now), percent, False, link
        )


def _tier_detail(name: str, missing_spend: Decimal | None, missing_purchases: int | None) -> str:
    if missing_spend:
        return _("Spend %(amount)s more to reach %(tier)s.") % {
            "amount": money(missing_spend),
            "tier": name,
        }
    if missing_purchases:
        return ngettext(
            "%(count)s more purchase to reach %(tier)s.",
            "%(count)s more purchases to reach %(tier)s.",
            missing_purchases,
        ) % {"count": missing_purchases, "tier": name}
    return _("Reach %(tier)s.") % {"tier": name}
