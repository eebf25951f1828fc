"""The roadmap: what the member works towards, automatic or as marketers order it."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.models import Badge, MemberBadge, RoadmapStep, Tier, TierLadder
from loyalty.services.purchases import purchase_record
from members.cabinet.roadmap import member_roadmap
from rewards.models import Reward
from rewards.services import reward_redeem
from tests.members.test_cabinet import _sms_outbox, customer, linked  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold(db):
    ladder = TierLadder.objects.create(name="Spend", window="lifetime")
    return Tier.objects.create(ladder=ladder, rank=1, name="Gold", min_spend=Decimal("1000"))


def reward(cost, name):
    return Reward.objects.create(kind="gift", name_en=name, point_cost=cost)


def roadmap_of(card):
    return [
        (m.kind, m.title, m.detail, m.percent, m.done)
        for m in member_roadmap(card.member, timezone.now(), 80)
    ]


def test_without_steps_the_roadmap_is_the_next_tier_cheapest_rewards_and_badges(
    linked,  # noqa: F811
    operator,
    gold,
):
    purchase_record(partner=operator, card_number=linked.number, receipt_id="R1", amount=400)
    for cost, name in [(50, "Coffee"), (100, "Cake"), (500, "Mug"), (1000, "Kettle")]:
        reward(cost, name)
    Badge.objects.create(rule="first_purchase", name_en="First step")  # earned before it existed
    Badge.objects.create(rule="purchases_in_month", count=4, name_en="Regular")

    milestones = roadmap_of(linked)

    assert milestones[0][:2] == ("tier", "Gold")
    assert milestones[0][3] == 40
    assert "more to reach Gold." in milestones[0][2]
    assert milestones[1:4] == [
        ("reward", "Coffee", "Within reach: redeem it now.", 100, False),
        ("reward", "Cake", "20 points away.", 80, False),
        ("reward", "Mug", "420 points away.", 16, False),
    ]
    assert ("badge", "Regular", "3 more purchases this month.", 25, False) in milestones
    assert "Kettle" not in [m[1] for m in milestones]  # the fourth cheapest


def test_marketers_order_the_steps_and_reached_ones_are_ticked(
    linked,  # noqa: F811
    operator,
    gold,
):
    cake = reward(100, "Cake")
    welcome = Badge.objects.create(rule="first_purchase", name_en="Welcome")
    RoadmapStep.objects.create(kind="badge", badge=welcome, position=1)
    RoadmapStep.objects.create(kind="reward", reward=cake, position=2)
    RoadmapStep.objects.create(kind="tier", tier=gold, position=3)
    points_adjust(member=linked.member, points=150, reason="test")
    reward_redeem(member_id=linked.member_id, reward_id=cake.pk)
    MemberBadge.objects.create(member=linked.member, badge=welcome)

    assert [(m[0], m[1], m[4]) for m in roadmap_of(linked)] == [
        ("badge", "Welcome", True),
        ("reward", "Cake", True),
        ("tier", "Gold", False),
    ]


def test_the_page_draws_the_path(client, linked, operator, gold):  # noqa: F811
    reward(50, "Coffee")
    html = client.get(reverse("cabinet-roadmap")).content.decode()
    assert 'data-testid="milestone"' in html
    assert "Gold" in html
    assert reverse("cabinet-reward", args=[Reward.objects.get().pk]) in html


def test_a_step_is_exactly_what_its_kind_says(gold):
    with pytest.raises(ValidationError, match="Choose the reward"):
        RoadmapStep(kind="reward", tier=gold).full_clean()
    feedback = Badge.objects.create(rule="feedback")
    with pytest.raises(ValidationError, match="one tier, one reward or one badge"):
        RoadmapStep(kind="tier", tier=gold, badge=feedback).full_clean()
