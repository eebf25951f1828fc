"""What follows a member's tier move: the badge of the tier reached, the journeys that
start on a tier change, and the `tier.changed` webhook to the partners of the member's
cards. Engagement, above the tiers themselves: the tier code stores the moves, and whoever
made them (a purchase, a refund, the club, the nightly sweep) announces them here."""

from datetime import datetime

from members.models import Card
from partners.webhooks import webhook_event_record, webhook_subscribers_exist

from .badges import tier_badges_award_later
from .journeys.entering import journeys_enter, journeys_listen
from .models import Journey, TierChange
from .tiers import tiers_sweep


def tier_moves_announce(changes: list[TierChange]) -> None:
    """In the transaction of the moves: badges are given after it commits, journeys are
    entered and webhooks recorded with it."""
    if not changes:
        return
    tier_badges_award_later(
        (change.member_id, change.to_tier_id) for change in changes if change.to_tier_id
    )
    _journeys_enter(changes)
    _partners_tell(changes)


def tiers_recalculate_all(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """The nightly sweep of tier holders (`loyalty.tiers.tiers_sweep`), its moves announced
    batch by batch; returns the tiers that moved."""
    return tiers_sweep(announce=tier_moves_announce, now=now, batch_size=batch_size)


def _journeys_enter(changes: list[TierChange]) -> None:
    """Members who moved enter the journeys that start on a tier change, once per move."""
    if not journeys_listen(Journey.Trigger.TIER_CHANGED):
        return
    for change in changes:
        journeys_enter(
            Journey.Trigger.TIER_CHANGED,
            [change.member_id],
            now=change.created_at,
            key=f"{change.from_tier_id or 0}>{change.to_tier_id or 0}",
        )


def _partners_tell(changes: list[TierChange]) -> None:
    """Each partner hears of its own members only (those holding a card it issued), with
    that card's number: card numbers are what spend points, never broadcast."""
    if not webhook_subscribers_exist("tier.changed"):
        return
    cards = Card.objects.filter(
        member_id__in=[change.member_id for change in changes], status__in=Card.USABLE
    ).values_list("member_id", "partner_id", "number")
    issued: dict[int, dict[int, str]] = {}
    for member_id, partner_id, number in cards:
        issued.setdefault(member_id, {})[partner_id] = number
    for change in changes:
        for partner_id, number in issued.get(change.member_id, {}).items():
            webhook_event_record(
                partner_id=partner_id,
                event="tier.changed",
                data={
                    "card": number,
                    "ladder": change.ladder_id,
                    "from_tier": change.from_tier_id,
                    "to_tier": change.to_tier_id,
                    "reason": change.reason,
                },
            )
