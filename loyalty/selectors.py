"""Reads of the loyalty program."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Sum

from members.models import Member

from .cache import ProcessCache
from .ledger import Kind, MemberAccounts
from .models import Account, EarningRule, EventBonus, Lot
from .rules import RuleSpec


@dataclass(frozen=True)
class ShortBalance:
    """Available and pending points, as purchase, refund and hold answers show them."""

    available: int
    pending: int


def account_balances(member_id: int) -> dict[str, int]:
    """The member's stored balances by account kind (every member has all three)."""
    return dict(Account.objects.filter(member_id=member_id).values_list("kind", "balance"))


def short_balance(member_id: int) -> ShortBalance:
    balances = account_balances(member_id)
    return ShortBalance(available=balances[Kind.AVAILABLE], pending=balances[Kind.PENDING])


def accounts_short_balance(accounts: MemberAccounts) -> ShortBalance:
    """The short balance of a member whose accounts the caller holds (locked, current)."""
    return ShortBalance(available=accounts.available.balance, pending=accounts.pending.balance)


def member_balance(member: Member) -> dict[str, Any]:
    """Available, pending and owed points, and available points grouped by expiry date."""
    balances = account_balances(member.pk)
    expiring = (
        Lot.objects.filter(
            account__member=member,
            account__kind=Kind.AVAILABLE,
            remaining__gt=0,
            expires_at__isnull=False,
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return {
        "available": balances[Kind.AVAILABLE],
        "pending": balances[Kind.PENDING],
        "debt": balances[Kind.DEBT],
        "expiring": [
            {"points": points, "expires_at": expires_at.isoformat()}
            for expires_at, points in expiring.values_list("expires_at", "points")
            if expires_at is not None
        ],
    }


def earning_rules_load() -> tuple[RuleSpec, ...]:
    """Active earning rules as specs, read now (purchases use the cached snapshot)."""
    rules = EarningRule.objects.filter(is_active=True).prefetch_related(
        "partners", "outlets", "tiers", "segments"
    )
    return tuple(rule_spec(rule) for rule in rules)


_rules_cache = ProcessCache(earning_rules_load)


def earning_rules_snapshot() -> tuple[RuleSpec, ...]:
    """Active earning rules as immutable specs: two queries every few seconds, not per purchase.

    A change is seen at once in the process that made it (the admin clears
    this cache) and within 5 seconds elsewhere.
    """
    return _rules_cache.get()


def earning_rules_cache_clear() -> None:
    _rules_cache.clear()


def _lines(text: str) -> frozenset[str]:
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def rule_spec(rule: EarningRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        action=rule.action,
        value=rule.value,
        priority=rule.priority,
        stackable=rule.stackable,
        per_item=rule.per_item,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        weekdays=frozenset(rule.weekdays or []),
        hour_from=rule.hour_from,
        hour_to=rule.hour_to,
        partner_ids=frozenset(p.pk for p in rule.partners.all()),
        outlet_ids=frozenset(o.pk for o in rule.outlets.all()),
        skus=_lines(rule.skus),
        categories=_lines(rule.categories),
        min_amount=rule.min_amount,
        cap_per_receipt=rule.cap_per_receipt,
        tier_ids=frozenset(t.pk for t in rule.tiers.all()),
        segment_ids=frozenset(s.pk for s in rule.segments.all()),
        birthday_window_days=rule.birthday_window_days,
        cap_per_member=rule.cap_per_member,
        cap_period=rule.cap_period,
    )


def _event_bonuses_load() -> dict[str, EventBonus]:
    return {bonus.event: bonus for bonus in EventBonus.objects.filter(is_active=True)}


_bonus_cache = ProcessCache(_event_bonuses_load)


def event_bonuses_snapshot() -> dict[str, EventBonus]:
    """Active event bonuses by event, cached like the earning rules (one query every 5 s)."""
    return _bonus_cache.get()


def event_bonuses_cache_clear() -> None:
    _bonus_cache.clear()
