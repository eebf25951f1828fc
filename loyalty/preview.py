"""The "what if" of an earning rule: replay recent purchases with and without it.

Nothing is written. The draft rule is evaluated with the active rules over
the last N days of purchases, each as recorded (amount, items, outlet, time)
and with the member's current tiers, segments and birthday; its cap per
member is simulated over the replayed purchases. The difference is the extra
points the rule would have given and their value as liability.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from members.models import Member

from .models import EarningRule, MemberTier, Purchase
from .program import program_settings
from .rules import MemberFacts, PurchaseFacts, RuleSpec, rules_evaluate
from .selectors import earning_rules_load, rule_spec
from .services.purchases import purchase_items

# Enough for a month of a large chain's receipts; a larger window is cut to the newest.
MAX_PURCHASES = 200_000
CHUNK = 2000


@dataclass
class RulePreview:
    days: int
    purchases: int = 0
    purchases_affected: int = 0
    members_affected: int = 0
    extra_points: int = 0
    liability: Decimal = Decimal("0")
    currency: str = ""
    truncated: bool = False
    examples: list[dict[str, Any]] = field(default_factory=list)


def rule_preview(rule: EarningRule, *, days: int, now: datetime | None = None) -> RulePreview:
    """What `rule` (saved, active or not) would have added over the last `days` days."""
    now = now or timezone.now()
    program = program_settings()
    draft = rule_spec(rule)
    # Read fresh, not from the purchase path's cache: the marketer may have just edited them.
    others = tuple(spec for spec in earning_rules_load() if spec.id != draft.id)
    with_draft = (*others, draft)
    result = RulePreview(days=days, currency=program.currency)
    members: set[int] = set()
    cap_used: dict[tuple[int, str], int] = defaultdict(int)
    for purchase, member in _recent_purchases(now - timedelta(days=days), now, draft, others):
        result.purchases += 1
        facts = _facts(purchase, member)
        base = sum(r["points"] for r in purchase["applied_rules"] if r.get("rule") == "base")
        caps_left = {}
        if draft.cap_per_member is not None:
            period = (purchase["member_id"], draft.cap_period_key(facts.moment))
            caps_left[draft.id] = max(0, draft.cap_per_member - cap_used[period])
        applied = rules_evaluate(with_draft, facts, base, program.point_value, caps_left)
        extra = sum(r.points for r in applied) - sum(
            r.points for r in rules_evaluate(others, facts, base, program.point_value)
        )
        draft_points = sum(r.points for r in applied if r.rule_id == draft.id)
        if draft.cap_per_member is not None and draft_points:
            cap_used[period] += draft_points
        if extra:
            result.purchases_affected += 1
            result.extra_points += extra
            members.add(purchase["member_id"])
            if len(result.examples) < 10:
                result.examples.append(
                    {
                        "receipt_id": purchase["receipt_id"],
                        "created_at": purchase["created_at"],
                        "amount": purchase["amount"],
                        "extra_points": extra,
                    }
                )
    result.truncated = result.purchases >= MAX_PURCHASES
    result.members_affected = len(members)
    result.liability = (Decimal(result.extra_points) * program.point_value).quantize(
        Decimal("0.01")
    )
    return result


def _recent_purchases(
    since: datetime, until: datetime, draft: RuleSpec, others: tuple[RuleSpec, ...]
) -> Iterator[tuple[dict[str, Any], MemberFacts]]:
    """Purchases in the window, oldest first, each with its member's facts (read per chunk)."""
    rules = (*others, draft)
    wants_birthday = any(r.birthday_window_days is not None for r in rules)
    wants_segments = any(r.segment_ids for r in rules)
    wants_tiers = any(r.tier_ids for r in rules)
    newest = (
        Purchase.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:MAX_PURCHASES]
    )
    ids = sorted(newest)
    for start in range(0, len(ids), CHUNK):
        chunk = list(
            Purchase.objects.filter(id__in=ids[start : start + CHUNK])
            .order_by("created_at", "id")
            .values(
                "id",
                "member_id",
                "partner_id",
                "outlet_id",
                "receipt_id",
                "amount",
                "redeemed_value",
                "items",
                "applied_rules",
                "created_at",
            )
        )
        member_ids = {p["member_id"] for p in chunk}
        tiers: dict[int, set[int]] = defaultdict(set)
        if wants_tiers:
            for member_id, tier_id in MemberTier.objects.filter(
                member_id__in=member_ids
            ).values_list("member_id", "tier_id"):
                tiers[member_id].add(tier_id)
        segments: dict[int, set[int]] = defaultdict(set)
        if wants_segments:
            for member_id, segment_id in Member.segments.through.objects.filter(
                member_id__in=member_ids
            ).values_list("member_id", "segment_id"):
                segments[member_id].add(segment_id)
        birthdays = (
            dict(Member.objects.filter(pk__in=member_ids).values_list("pk", "birth_date"))
            if wants_birthday
            else {}
        )
        for purchase in chunk:
            member_id = purchase["member_id"]
            yield (
                dict(purchase),
                MemberFacts(
                    tier_ids=frozenset(tiers[member_id]),
                    segment_ids=frozenset(segments[member_id]),
                    birth_date=birthdays.get(member_id),
                ),
            )


def _facts(purchase: dict[str, Any], member: MemberFacts) -> PurchaseFacts:
    return PurchaseFacts(
        partner_id=purchase["partner_id"],
        outlet_id=purchase["outlet_id"],
        amount=purchase["amount"],
        paid=purchase["amount"] - purchase["redeemed_value"],
        items=purchase_items(purchase["items"] or []),
        moment=timezone.localtime(purchase["created_at"]),
        member=member,
    )
