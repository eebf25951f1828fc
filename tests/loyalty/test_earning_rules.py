import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.answers import purchase_answer
from loyalty.models import EarningRule, RuleUsage, Tier, TierLadder
from loyalty.selectors import earning_rules_cache_clear
from loyalty.services.purchases import purchase_record
from members.models import Member, Segment

pytestmark = pytest.mark.django_db


def buy(card, amount, items=(), at=None):
    return purchase_answer(
        purchase_record(
            partner=card.partner,
            card_number=card.number,
            receipt_id=str(uuid.uuid4()),
            amount=Decimal(amount),
            items=list(items),
            now=at,
        )
    ).body


def test_a_campaign_adds_points_and_explains_itself(card, program, ledger_consistent):
    EarningRule.objects.create(
        name="Double points on dairy", action="multiply", value=2, categories="dairy\n"
    )
    milk = {"sku": "MILK", "category": "dairy", "qty": "2", "price": "250"}
    bread = {"sku": "BREAD", "category": "bakery", "qty": "1", "price": "500"}
    body = buy(card, "1000", [milk, bread])
    assert body["points_earned"] == 10 + 5  # base 10, dairy is half the receipt
    assert body["applied_rules"][1] == {
        "rule": f"rule:{EarningRule.objects.get().pk}",
        "description": "Double points on dairy",
        "points": 5,
    }


def test_inactive_and_non_matching_rules_add_nothing(card, operator, program):
    EarningRule.objects.create(name="Off", action="add_fixed", value=100, is_active=False)
    EarningRule.objects.create(name="Big receipts", action="add_fixed", value=100, min_amount=5000)
    assert buy(card, "1000")["points_earned"] == 10


def test_an_exclusive_rule_replaces_the_others(card, program, ledger_consistent):
    EarningRule.objects.create(name="Welcome", action="add_fixed", value=20, priority=1)
    EarningRule.objects.create(
        name="Black Friday", action="multiply", value=3, priority=10, stackable=False
    )
    body = buy(card, "1000")
    assert body["points_earned"] == 10 + 20
    assert [r["description"] for r in body["applied_rules"][1:]] == ["Black Friday"]


def test_rule_changes_reach_purchases_once_the_cache_is_cleared(card, program):
    assert buy(card, "1000")["points_earned"] == 10
    EarningRule.objects.create(name="Bonus", action="add_fixed", value=7)
    earning_rules_cache_clear()  # what the admin does after saving a rule
    assert buy(card, "1000")["points_earned"] == 17


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"hour_from": 18, "hour_to": 9}, "hour_to"),
        ({"action": "percent", "value": 150}, "value"),
        ({"weekdays": [7]}, "weekdays"),
    ],
)
def test_rules_that_make_no_sense_are_explained(fields, error_field):
    rule = EarningRule(name="r", **{"action": "add_fixed", "value": 1, **fields})
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert error_field in error.value.message_dict


def test_a_member_cap_holds_across_receipts_and_resets_next_period(card, program):
    EarningRule.objects.create(
        name="Coffee club", action="add_fixed", value=100, cap_per_member=150, cap_period="month"
    )
    november = datetime(2026, 11, 5, 12, tzinfo=UTC)
    earned = [buy(card, "100", at=november + timedelta(days=d))["points_earned"] for d in range(3)]
    assert earned == [1 + 100, 1 + 50, 1]
    assert buy(card, "100", at=datetime(2026, 12, 1, 12, tzinfo=UTC))["points_earned"] == 101
    assert RuleUsage.objects.get(period="2026-11").points == 150


def test_rules_for_a_tier_a_segment_and_the_birthday_week(card, program):
    ladder = TierLadder.objects.create(name="Status", window="lifetime")
    gold = Tier.objects.create(ladder=ladder, name="Gold", rank=1, min_purchases=1)
    gold_rule = EarningRule.objects.create(name="Gold extra", action="add_fixed", value=5)
    gold_rule.tiers.add(gold)
    students = Segment.objects.create(name="Students")
    student_rule = EarningRule.objects.create(name="Students", action="add_fixed", value=7)
    student_rule.segments.add(students)
    EarningRule.objects.create(
        name="Birthday week", action="multiply", value=2, birthday_window_days=3
    )
    first = buy(card, "1000", at=datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert first["points_earned"] == 10  # not Gold yet, no segment, no birthday
    students.members.add(card.member)
    Member.objects.filter(pk=card.member_id).update(birth_date=date(1990, 6, 3))
    second = buy(card, "1000", at=datetime(2026, 6, 1, 13, tzinfo=UTC))
    assert [r["description"] for r in second["applied_rules"][1:]] == [
        "Gold extra",
        "Students",
        "Birthday week",
    ]
    assert second["points_earned"] == 10 + 5 + 7 + 10
