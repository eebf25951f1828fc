"""The earning rule engine, case by case and by properties (pure Python, no database)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.rules import Item, MemberFacts, PurchaseFacts, RuleSpec, rules_evaluate

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ONE = Decimal(1)


def facts(amount="1000", items=(), moment=MONDAY_NOON, partner=1, outlet=None, member=None):
    return PurchaseFacts(
        partner_id=partner,
        outlet_id=outlet,
        amount=Decimal(amount),
        paid=Decimal(amount),
        items=tuple(items),
        moment=moment,
        member=member or MemberFacts(),
    )


def rule(rule_id=1, action="multiply", value="2", **conditions):
    return RuleSpec(
        id=rule_id, name=f"rule {rule_id}", action=action, value=Decimal(value), **conditions
    )


def points(rules, purchase=None, base=10):
    return [
        (a.rule_id, a.points) for a in rules_evaluate(tuple(rules), purchase or facts(), base, ONE)
    ]


def test_double_points_adds_the_base_once_more():
    assert points([rule(action="multiply", value="2")]) == [(1, 10)]


def test_fixed_bonus_and_percent_cashback():
    assert points([rule(1, "add_fixed", "50"), rule(2, "percent", "3")]) == [(1, 50), (2, 30)]


@pytest.mark.parametrize(
    ("conditions", "applies"),
    [
        ({"weekdays": frozenset({0})}, True),
        ({"weekdays": frozenset({5, 6})}, False),
        ({"hour_from": 10, "hour_to": 13}, True),
        ({"hour_from": 13}, False),
        ({"starts_at": datetime(2026, 11, 1, tzinfo=UTC), "ends_at": MONDAY_NOON}, False),
        ({"starts_at": datetime(2026, 11, 1, tzinfo=UTC)}, True),
        ({"partner_ids": frozenset({2})}, False),
        ({"outlet_ids": frozenset({7})}, False),
        ({"min_amount": Decimal("1000")}, True),
        ({"min_amount": Decimal("1000.01")}, False),
        ({"categories": frozenset({"dairy"})}, False),
    ],
)
def test_conditions(conditions, applies):
    assert bool(points([rule(**conditions)])) is applies


def test_item_rules_reward_only_the_matching_items_share():
    items = [
        Item("MILK", "dairy", Decimal(2), Decimal(100)),
        Item("BREAD", "bakery", ONE, Decimal(800)),
    ]
    purchase = facts(amount="1000", items=items)
    assert points(
        [rule(action="percent", value="10", categories=frozenset({"dairy"}))], purchase
    ) == [(1, 20)]
    per_unit = rule(action="add_fixed", value="5", skus=frozenset({"MILK"}), per_item=True)
    assert points([per_unit], purchase) == [(1, 10)]


def test_an_exclusive_rule_wins_alone_over_stackable_ones():
    rules = [
        rule(1, "add_fixed", "5", priority=1),
        rule(2, "add_fixed", "7", priority=5, stackable=False),
        rule(3, "add_fixed", "9", priority=3, stackable=False),
    ]
    assert points(rules) == [(2, 7)]


def test_stackable_rules_all_apply_highest_priority_first():
    rules = [rule(1, "add_fixed", "5", priority=1), rule(2, "add_fixed", "7", priority=9)]
    assert points(rules) == [(2, 7), (1, 5)]


def test_cap_per_receipt():
    assert points([rule(action="percent", value="50", cap_per_receipt=100)]) == [(1, 100)]


amounts = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
specs = st.builds(
    RuleSpec,
    id=st.integers(1, 20),
    name=st.just("r"),
    action=st.sampled_from(["multiply", "add_fixed", "percent"]),
    value=st.decimals(min_value=0, max_value=1000, places=2),
    priority=st.integers(0, 5),
    stackable=st.booleans(),
    per_item=st.booleans(),
    categories=st.sampled_from([frozenset(), frozenset({"a"}), frozenset({"b"})]),
    cap_per_receipt=st.one_of(st.none(), st.integers(0, 500)),
)
item_lists = st.lists(
    st.builds(
        Item,
        sku=st.just("s"),
        category=st.sampled_from(["a", "b"]),
        qty=st.decimals(0, 10, places=3),
        price=amounts,
    ),
    max_size=5,
)


@given(
    rules=st.lists(specs, max_size=8, unique_by=lambda r: r.id),
    amount=amounts,
    items=item_lists,
    base=st.integers(0, 10**6),
    caps_left=st.dictionaries(st.integers(1, 20), st.integers(0, 300), max_size=6),
)
def test_points_are_never_negative_caps_hold_and_exclusive_rules_are_alone(
    rules, amount, items, base, caps_left
):
    applied = rules_evaluate(tuple(rules), facts(amount=amount, items=items), base, ONE, caps_left)
    by_id = {r.id: r for r in rules}
    assert all(a.points > 0 for a in applied)
    for a in applied:
        cap = by_id[a.rule_id].cap_per_receipt
        assert cap is None or a.points <= cap
        assert a.points <= caps_left.get(a.rule_id, a.points)
    if any(not by_id[a.rule_id].stackable for a in applied):
        assert len(applied) == 1


GOLD, SILVER = 7, 8


@pytest.mark.parametrize(
    ("conditions", "member", "applies"),
    [
        ({"tier_ids": frozenset({GOLD})}, MemberFacts(tier_ids=frozenset({GOLD})), True),
        ({"tier_ids": frozenset({GOLD})}, MemberFacts(tier_ids=frozenset({SILVER})), False),
        ({"tier_ids": frozenset({GOLD})}, MemberFacts(), False),
        ({"segment_ids": frozenset({3})}, MemberFacts(segment_ids=frozenset({3, 4})), True),
        ({"segment_ids": frozenset({3})}, MemberFacts(segment_ids=frozenset({4})), False),
        # The purchase is on 23 November.
        ({"birthday_window_days": 0}, MemberFacts(birth_date=date(1990, 11, 23)), True),
        ({"birthday_window_days": 3}, MemberFacts(birth_date=date(1990, 11, 26)), True),
        ({"birthday_window_days": 3}, MemberFacts(birth_date=date(1990, 11, 20)), True),
        ({"birthday_window_days": 3}, MemberFacts(birth_date=date(1990, 11, 27)), False),
        ({"birthday_window_days": 3}, MemberFacts(), False),
    ],
)
def test_member_conditions(conditions, member, applies):
    assert bool(points([rule(**conditions)], facts(member=member))) is applies


def test_the_birthday_window_wraps_around_new_year_and_29_february():
    new_year = datetime(2027, 1, 2, 12, tzinfo=UTC)
    december_birthday = MemberFacts(birth_date=date(1985, 12, 30))
    assert points([rule(birthday_window_days=3)], facts(moment=new_year, member=december_birthday))
    leap_day = MemberFacts(birth_date=date(2000, 2, 29))
    on_28th = datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert points([rule(birthday_window_days=0)], facts(moment=on_28th, member=leap_day))


def test_a_member_cap_clamps_points_and_a_used_up_cap_does_not_block_other_rules():
    capped = rule(1, action="add_fixed", value="100", stackable=False, cap_per_member=150)
    other = rule(2, action="add_fixed", value="5")

    def evaluate(left):
        applied = rules_evaluate((capped, other), facts(), 10, ONE, {1: left})
        return [(a.rule_id, a.points) for a in applied]

    assert evaluate(150) == [(1, 100)]
    assert evaluate(30) == [(1, 30)]
    assert evaluate(0) == [(2, 5)]  # exhausted: the exclusive rule steps aside


@pytest.mark.parametrize(
    ("period", "key"),
    [
        ("day", "2026-11-23"),
        ("week", "2026-W48"),
        ("month", "2026-11"),
        ("year", "2026"),
        ("ever", "ever"),
    ],
)
def test_cap_periods(period, key):
    assert rule(cap_period=period).cap_period_key(MONDAY_NOON) == key
