"""Tiers: qualification over windows, benefits at the till, grace, floors and the nightly job."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from loyalty.answers import purchase_answer
from loyalty.exceptions import InvalidRequest
from loyalty.models import MemberTier, Tier, TierChange, TierLadder
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from loyalty.tier_moves import tiers_recalculate_all
from loyalty.tiers import (
    Held,
    LadderSpec,
    TierSpec,
    tier_decide,
    tier_floor_set,
)

pytestmark = pytest.mark.django_db

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def buy(card, amount, *, at=NOV_10, pos=None):
    return purchase_answer(
        purchase_record(
            partner=card.partner,
            card_number=card.number,
            receipt_id=str(uuid.uuid4()),
            amount=Decimal(amount),
            now=at,
        )
    ).body


def ladder_with(name, window, tiers, *, days=None, grace=0):
    ladder = TierLadder.objects.create(name=name, window=window, window_days=days, grace_days=grace)
    for rank, fields in enumerate(tiers, start=1):
        Tier.objects.create(ladder=ladder, rank=rank, **fields)
    return ladder


@pytest.fixture
def vip(db):
    """The demo's VIP: more than 10,000 a calendar month, free delivery, a personal manager."""
    return ladder_with(
        "Status",
        TierLadder.Window.CALENDAR_MONTH,
        [
            {
                "name": "VIP",
                "min_spend": Decimal("10000.01"),
                "free_delivery": True,
                "personal_manager": True,
            }
        ],
        grace=30,
    )


@pytest.fixture
def discount_ladder(db):
    """3 % from 1,000 of lifetime spend, 5 % from 3,000."""
    return ladder_with(
        "Discount",
        TierLadder.Window.LIFETIME,
        [
            {"name": "3%", "min_spend": Decimal("1000"), "discount_percent": Decimal("3")},
            {"name": "5%", "min_spend": Decimal("3000"), "discount_percent": Decimal("5")},
        ],
    )


def held(member):
    return {row.ladder.name: row.tier.name for row in MemberTier.objects.filter(member=member)}


def test_vip_after_more_than_10000_in_a_month(card, program, vip):
    first = buy(card, "6000")
    assert first["status"]["tiers"] == []
    second = buy(card, "4000.01", at=NOV_10 + timedelta(days=5))
    assert second["status"]["tiers"] == [{"ladder": "Status", "tier": "VIP", "rank": 1}]
    assert second["status"]["free_delivery"] is True
    assert second["status"]["personal_manager"] is True
    change = TierChange.objects.get(member=card.member)
    assert (change.reason, change.to_tier.name) == ("qualified", "VIP")


def test_spend_in_another_month_does_not_count(card, program, vip):
    buy(card, "6000", at=datetime(2026, 10, 30, 12, tzinfo=UTC))
    assert buy(card, "6000")["status"]["tiers"] == []


def test_the_discount_ladder_climbs_on_lifetime_spend(card, program, discount_ladder, pos):
    assert buy(card, "999")["status"]["discount_percent"] == "0.00"
    assert buy(card, "1")["status"]["discount_percent"] == "3.00"
    assert buy(card, "2000", at=datetime(2027, 3, 1, tzinfo=UTC))["status"]["discount_percent"] == (
        "5.00"
    )
    lookup = pos.get("/api/v1/members/lookup/", {"card": card.number}).json()
    assert lookup["status"]["discount_percent"] == "5.00"
    assert held(card.member) == {"Discount": "5%"}


def test_the_best_benefit_of_each_ladder_applies(card, program, vip, discount_ladder):
    buy(card, "12000")
    status = buy(card, "1")["status"]
    assert [t["tier"] for t in status["tiers"]] == ["VIP", "5%"]
    assert status["discount_percent"] == "5.00"
    assert status["free_delivery"] is True


def test_an_earn_multiplier_applies_from_the_purchase_after_qualifying(card, program):
    ladder_with(
        "Gold",
        TierLadder.Window.LIFETIME,
        [{"name": "Gold", "min_purchases": 2, "earn_multiplier": Decimal("1.5")}],
    )
    assert buy(card, "1000")["points_earned"] == 10
    qualifying = buy(card, "1000")
    assert qualifying["points_earned"] == 10  # the tier is earned by this purchase
    body = buy(card, "1000")
    assert body["points_earned"] == 15
    tier_id = Tier.objects.get(name="Gold").pk
    assert body["applied_rules"][1] == {
        "rule": f"tier:{tier_id}",
        "description": "Gold ×1.5",  # noqa: RUF001
        "points": 5,
    }


def test_a_refund_takes_the_spend_back_and_without_grace_the_tier(card, program, discount_ladder):
    purchase = buy(card, "3000")
    assert held(card.member) == {"Discount": "5%"}
    refund_record(partner=card.partner, purchase_id=purchase["id"], amount=Decimal("1500"))
    assert held(card.member) == {"Discount": "3%"}
    refund_record(partner=card.partner, purchase_id=purchase["id"], amount=Decimal("1500"))
    assert held(card.member) == {}
    reasons = list(TierChange.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == ["qualified", "downgraded", "downgraded"]


def test_the_nightly_job_moves_members_down_after_the_grace_period(card, program, vip):
    buy(card, "11000")
    december = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert tiers_recalculate_all(now=december) == 0  # grace starts: kept for 30 days
    row = MemberTier.objects.get(member=card.member)
    assert row.grace_until == december + timedelta(days=30)
    assert tiers_recalculate_all(now=december + timedelta(days=29)) == 0
    assert held(card.member) == {"Status": "VIP"}
    assert tiers_recalculate_all(now=december + timedelta(days=31)) == 1
    assert held(card.member) == {}
    assert tiers_recalculate_all(now=december + timedelta(days=32)) == 0  # idempotent


def test_qualifying_again_during_grace_keeps_the_tier(card, program, vip):
    buy(card, "11000")
    december = datetime(2026, 12, 1, 3, tzinfo=UTC)
    tiers_recalculate_all(now=december)
    buy(card, "10500", at=december + timedelta(days=3))
    assert MemberTier.objects.get(member=card.member).grace_until is None
    assert tiers_recalculate_all(now=december + timedelta(days=31)) == 0
    assert held(card.member) == {"Status": "VIP"}


def test_a_rolling_window_slides(card, program):
    ladder_with(
        "Regulars",
        TierLadder.Window.ROLLING_DAYS,
        [{"name": "Regular", "min_purchases": 3}],
        days=30,
    )
    for day in (1, 10, 20):
        buy(card, "100", at=datetime(2026, 11, day, 12, tzinfo=UTC))
    assert held(card.member) == {"Regulars": "Regular"}
    assert tiers_recalculate_all(now=datetime(2026, 11, 30, 3, tzinfo=UTC)) == 0
    assert tiers_recalculate_all(now=datetime(2026, 12, 1, 3, tzinfo=UTC)) == 1
    assert held(card.member) == {}


def test_a_manual_floor_is_audited_and_holds_against_the_job(card, program, discount_ladder):
    staff = User.objects.create_user("support", password="x-test-only")
    five = Tier.objects.get(name="5%")
    tier_floor_set(
        member_id=card.member_id, ladder=discount_ladder, floor=five, note="complaint 42", by=staff
    )
    assert held(card.member) == {"Discount": "5%"}
    assert buy(card, "10")["status"]["discount_percent"] == "5.00"
    assert tiers_recalculate_all(now=datetime(2027, 1, 1, tzinfo=UTC)) == 0
    audit = TierChange.objects.get(reason="floor_set")
    assert (audit.changed_by, audit.note, audit.to_tier) == (staff, "complaint 42", five)
    tier_floor_set(
        member_id=card.member_id, ladder=discount_ladder, floor=None, note="resolved", by=staff
    )
    assert held(card.member) == {}  # 10 spent: no tier without the floor
    assert TierChange.objects.filter(reason="floor_removed", changed_by=staff).count() == 1


def test_a_floor_needs_a_reason_and_a_tier_of_the_same_ladder(card, program, vip, discount_ladder):
    with pytest.raises(InvalidRequest):
        tier_floor_set(
            member_id=card.member_id, ladder=vip, floor=Tier.objects.get(name="VIP"), note=" "
        )
    with pytest.raises(InvalidRequest):
        tier_floor_set(
            member_id=card.member_id, ladder=vip, floor=Tier.objects.get(name="5%"), note="x"
        )
    assert not MemberTier.objects.exists()


def test_run_job_recalculates_tiers(card, program, vip, capsys):
    call_command("run_job", "recalculate_tiers")
    assert "recalculate_tiers: 0 tiers moved" in capsys.readouterr().out


def spec(rank, min_spend, ladder_id=1):
    return TierSpec(
        id=rank,
        ladder_id=ladder_id,
        name=f"T{rank}",
        rank=rank,
        min_spend=Decimal(min_spend),
        min_purchases=None,
        both_required=True,
        earn_multiplier=Decimal(1),
        discount_percent=Decimal(0),
        free_delivery=False,
        personal_manager=False,
    )


LADDER = LadderSpec(
    id=1,
    name="L",
    window=TierLadder.Window.LIFETIME,
    window_days=None,
    grace_days=7,
    tiers=(spec(2, "5000"), spec(1, "1000")),
)
TIERS = {t.id: t for t in LADDER.tiers}
NOW = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("held_tier", "grace", "floor", "spend", "expected"),
    [
        (None, None, None, "999", (None, None, None)),
        (None, None, None, "1000", (1, None, "qualified")),
        (1, None, None, "6000", (2, None, "qualified")),
        (2, NOW, None, "5000", (2, None, None)),  # qualifies again: grace lifted
        (2, None, None, "1000", (2, NOW + timedelta(days=7), None)),  # grace starts
        (2, NOW + timedelta(days=1), None, "1000", (2, NOW + timedelta(days=1), None)),
        (2, NOW, None, "1000", (1, None, "downgraded")),  # grace over: one step down
        (2, NOW, None, "0", (None, None, "downgraded")),
        (None, None, 2, "0", (2, None, "qualified")),  # a floor lifts at once
        (2, NOW, 2, "0", (2, None, None)),  # and never lets go
    ],
)
def test_tier_decide(held_tier, grace, floor, spend, expected):
    move = tier_decide(LADDER, TIERS, Held(held_tier, grace, floor), Decimal(spend), 0, NOW)
    assert (move.tier_id, move.grace_until, move.reason) == expected


def test_both_or_either_threshold():
    both = TierSpec(1, 1, "B", 1, Decimal(100), 2, True, Decimal(1), Decimal(0), False, False)
    either = TierSpec(2, 1, "E", 2, Decimal(100), 2, False, Decimal(1), Decimal(0), False, False)
    assert not both.qualifies(Decimal(100), 1)
    assert both.qualifies(Decimal(100), 2)
    assert either.qualifies(Decimal(100), 1)
    assert either.qualifies(Decimal(0), 2)
    assert not either.qualifies(Decimal(99), 1)


def test_a_floor_below_what_the_member_earned_keeps_the_earned_tier(card, program, discount_ladder):
    buy(card, "3500")
    three = Tier.objects.get(name="3%")
    tier_floor_set(member_id=card.member_id, ladder=discount_ladder, floor=three, note="promo")
    assert held(card.member) == {"Discount": "5%"}
    audit = TierChange.objects.get(reason="floor_set")
    assert (audit.from_tier.name, audit.to_tier.name) == ("5%", "5%")
