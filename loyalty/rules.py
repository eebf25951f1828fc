"""Earning rules evaluated in plain Python over an immutable snapshot.

No database access here: `rules_evaluate` is given the rules and the facts of
a purchase, and says which rules apply and how many points each adds, with
its reason. The snapshot is loaded once and cached (see `selectors`).
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class Item:
    sku: str
    category: str
    qty: Decimal
    price: Decimal

    @property
    def total(self) -> Decimal:
        return self.qty * self.price


@dataclass(frozen=True)
class MemberFacts:
    """What rules may ask about the buyer (birthday and segments only when a rule asks)."""

    tier_ids: frozenset[int] = frozenset()
    segment_ids: frozenset[int] = frozenset()
    birth_date: date | None = None


@dataclass(frozen=True)
class PurchaseFacts:
    partner_id: int
    outlet_id: int | None
    amount: Decimal  # the whole receipt
    paid: Decimal  # the part paid in money, which earns
    items: tuple[Item, ...]
    moment: datetime  # local time of the purchase
    member: MemberFacts = MemberFacts()


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    action: str  # "multiply", "add_fixed" or "percent"
    value: Decimal
    priority: int = 0
    stackable: bool = True
    per_item: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: frozenset[int] = field(default_factory=frozenset)  # 0 = Monday
    hour_from: int | None = None
    hour_to: int | None = None  # exclusive
    partner_ids: frozenset[int] = field(default_factory=frozenset)
    outlet_ids: frozenset[int] = field(default_factory=frozenset)
    skus: frozenset[str] = field(default_factory=frozenset)
    categories: frozenset[str] = field(default_factory=frozenset)
    min_amount: Decimal | None = None
    cap_per_receipt: int | None = None
    tier_ids: frozenset[int] = field(default_factory=frozenset)
    segment_ids: frozenset[int] = field(default_factory=frozenset)
    birthday_window_days: int | None = None
    cap_per_member: int | None = None
    cap_period: str = "month"  # "day", "week", "month", "year" or "ever"

    @property
    def targets_items(self) -> bool:
        return bool(self.skus or self.categories)

    def cap_period_key(self, moment: datetime) -> str:
        """The period a purchase at `moment` counts against for the cap per member."""
        if self.cap_period == "day":
            return moment.date().isoformat()
        if self.cap_period == "week":
            year, week, _day = moment.isocalendar()
            return f"{year}-W{week:02d}"
        if self.cap_period == "month":
            return f"{moment.year}-{moment.month:02d}"
        if self.cap_period == "year":
            return str(moment.year)
        return "ever"


@dataclass(frozen=True)
class AppliedRule:
    rule_id: int
    name: str
    points: int


def rules_evaluate(
    rules: tuple[RuleSpec, ...],
    facts: PurchaseFacts,
    base_points: int,
    point_value: Decimal,
    caps_left: dict[int, int] | None = None,
) -> list[AppliedRule]:
    """The rules that apply to a purchase, highest priority first, with their extra points.

    If any matching rule is exclusive, only the highest-priority exclusive one
    applies; otherwise every matching rule stacks. Points are never negative
    and never above a rule's cap per receipt, nor above what is left of its
    cap per member (`caps_left`, by rule id); a rule whose member cap is used
    up does not match at all, so it cannot shut out other rules.
    """
    caps_left = caps_left or {}
    matching = sorted(
        (rule for rule in rules if _matches(rule, facts) and caps_left.get(rule.id, 1) > 0),
        key=lambda r: (-r.priority, r.id),
    )
    exclusive = [rule for rule in matching if not rule.stackable]
    chosen = exclusive[:1] if exclusive else matching
    applied = []
    for rule in chosen:
        points = _points(rule, facts, base_points, point_value)
        if rule.cap_per_receipt is not None:
            points = min(points, rule.cap_per_receipt)
        if rule.id in caps_left:
            points = min(points, caps_left[rule.id])
        if points > 0:
            applied.append(AppliedRule(rule.id, rule.name, points))
    return applied


def _matches(rule: RuleSpec, facts: PurchaseFacts) -> bool:
    moment = facts.moment
    checks = (
        rule.starts_at is None or moment >= rule.starts_at,
        rule.ends_at is None or moment < rule.ends_at,
        not rule.weekdays or moment.weekday() in rule.weekdays,
        rule.hour_from is None or moment.hour >= rule.hour_from,
        rule.hour_to is None or moment.hour < rule.hour_to,
        not rule.partner_ids or facts.partner_id in rule.partner_ids,
        not rule.outlet_ids or facts.outlet_id in rule.outlet_ids,
        rule.min_amount is None or facts.amount >= rule.min_amount,
        not rule.targets_items or any(_item_matches(rule, item) for item in facts.items),
        not rule.tier_ids or bool(rule.tier_ids & facts.member.tier_ids),
        not rule.segment_ids or bool(rule.segment_ids & facts.member.segment_ids),
        rule.birthday_window_days is None
        or _near_birthday(facts.member.birth_date, moment.date(), rule.birthday_window_days),
    )
    return all(checks)


def _near_birthday(birth_date: date | None, day: date, window_days: int) -> bool:
    """Whether `day` is within `window_days` of a birthday (this year's, last or next)."""
    if birth_date is None:
        return False
    for year in (day.year - 1, day.year, day.year + 1):
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:  # 29 February: kept on 28 February in other years
            birthday = date(year, 2, 28)
        if abs((day - birthday).days) <= window_days:
            return True
    return False


def _item_matches(rule: RuleSpec, item: Item) -> bool:
    return item.sku in rule.skus or item.category in rule.categories


def _points(rule: RuleSpec, facts: PurchaseFacts, base_points: int, point_value: Decimal) -> int:
    """Extra points of one rule, on the whole receipt or on its matching items."""
    share = _earning_share(rule, facts)
    if rule.action == "multiply":
        exact = Decimal(base_points) * share * (rule.value - 1)
    elif rule.action == "add_fixed":
        quantity = (
            sum((i.qty for i in facts.items if _item_matches(rule, i)), Decimal(0))
            if rule.per_item and rule.targets_items
            else Decimal(1)
        )
        exact = rule.value * quantity
    else:  # percent of the money paid (for the matching items), as points
        exact = facts.paid * share * rule.value / 100 / point_value
    return max(0, int(exact.to_integral_value(rounding=ROUND_FLOOR)))


def _earning_share(rule: RuleSpec, facts: PurchaseFacts) -> Decimal:
    """The part of the receipt a rule rewards: all of it, or its matching items' part."""
    if not rule.targets_items:
        return Decimal(1)
    items_total = sum((i.total for i in facts.items), Decimal(0))
    if items_total <= 0:
        return Decimal(0)
    matching = sum((i.total for i in facts.items if _item_matches(rule, i)), Decimal(0))
    return min(Decimal(1), matching / items_total)
