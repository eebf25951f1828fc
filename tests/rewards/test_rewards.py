"""Redeeming catalogue rewards for points: checks, stock, limits, tiers, idempotency."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.exceptions import Conflict, InsufficientPoints
from loyalty.ledger import Code, ledger_breaches
from loyalty.models import Lot, MemberTier, Tier, TierLadder, Transfer
from loyalty.program import program_settings_update
from rewards.api import reward_redeem_answer
from rewards.models import Reward, Voucher
from rewards.selectors import VOUCHER_ALPHABET, VOUCHER_CODE_LENGTH
from rewards.services import personal_offer_issue, reward_redeem
from tests.balances import available_points
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def discount_reward(**fields) -> Reward:
    defaults = {
        "kind": Reward.Kind.PERCENT_DISCOUNT,
        "name_en": "10% off your next purchase",
        "name_ru": "Скидка 10% на следующую покупку",
        "point_cost": 100,
        "discount_percent": Decimal("10"),
    }
    return Reward.objects.create(**{**defaults, **fields})


@pytest.fixture
def member(operator, program):
    member = MemberFactory()
    points_adjust(member=member, points=250, reason="opening balance")
    return member


def test_redeeming_debits_the_cost_and_issues_a_voucher(member):
    reward = discount_reward(voucher_valid_days=14)
    result = reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key=None)
    assert result.status == 201
    voucher = Voucher.objects.get()
    assert result.body["code"] == voucher.code
    assert len(voucher.code) == VOUCHER_CODE_LENGTH
    assert set(voucher.code) <= set(VOUCHER_ALPHABET)
    assert (voucher.points_spent, voucher.discount_percent) == (100, Decimal("10.00"))
    assert voucher.valid_until - voucher.issued_at == timedelta(days=14)
    assert voucher.redemption_transfer.code == Code.REWARD
    assert available_points(member) == 150
    assert not ledger_breaches()


def test_redemption_spends_the_soonest_expiring_points_first(operator, program):
    member = MemberFactory()
    now = timezone.now()
    points_adjust(member=member, points=60, reason="old", now=now - timedelta(days=200))
    points_adjust(member=member, points=80, reason="new", now=now)
    reward_redeem(member_id=member.pk, reward_id=discount_reward().pk)
    remaining = list(
        Lot.objects.filter(account__member=member)
        .order_by("expires_at")
        .values_list("remaining", flat=True)
    )
    assert remaining == [0, 40]


def test_two_vouchers_never_share_a_code(member):
    reward = discount_reward(point_cost=10)
    for key in ("a", "b", "c"):
        reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key=key)
    assert Voucher.objects.values("code").distinct().count() == 3


def test_without_enough_points_nothing_is_written(member):
    reward = discount_reward(point_cost=300, stock=3)
    with pytest.raises(InsufficientPoints, match="250 available, 300 needed"):
        reward_redeem(member_id=member.pk, reward_id=reward.pk)
    reward.refresh_from_db()
    assert (reward.stock, Voucher.objects.count(), available_points(member)) == (3, 0, 250)


def test_the_program_minimum_balance_applies_to_rewards(member):
    program_settings_update(min_balance_to_redeem=500)
    with pytest.raises(InsufficientPoints, match="500 needed"):
        reward_redeem(member_id=member.pk, reward_id=discount_reward().pk)


def test_a_retried_redemption_is_one_voucher(member):
    reward = discount_reward()
    first = reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="tap-1")
    again = reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="tap-1")
    assert again.replayed
    assert again.body == first.body
    assert Voucher.objects.count() == 1
    assert available_points(member) == 150


def test_members_cannot_replay_each_others_keys(member):
    other = MemberFactory()
    points_adjust(member=other, points=100, reason="balance")
    reward = discount_reward()
    mine = reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="1")
    theirs = reward_redeem_answer(member_id=other.pk, reward_id=reward.pk, key="1")
    assert not theirs.replayed
    assert theirs.body["code"] != mine.body["code"]


def test_the_per_member_limit_counts_earlier_redemptions(member):
    reward = discount_reward(point_cost=10, per_member_limit=2)
    reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="1")
    reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="2")
    with pytest.raises(Conflict, match=r"most times allowed \(2\)"):
        reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="3")
    assert available_points(member) == 230


def test_a_tier_restricted_reward_needs_the_tier(member):
    ladder = TierLadder.objects.create(name="Status")
    gold = Tier.objects.create(ladder=ladder, name="Gold", rank=1, min_spend=1000)
    reward = discount_reward()
    reward.tiers.add(gold)
    with pytest.raises(Conflict, match="higher tier"):
        reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="1")
    MemberTier.objects.create(member=member, ladder=ladder, tier=gold, since=timezone.now())
    result = reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="2")
    assert result.status == 201


@pytest.mark.parametrize(
    "fields",
    [
        {"is_active": False},
        {"stock": 0},
        {"available_from": timezone.now() + timedelta(days=1)},
        {"available_until": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["hidden", "sold-out", "not-yet", "over"],
)
def test_an_unavailable_reward_cannot_be_redeemed(member, fields):
    reward = discount_reward(**fields)
    with pytest.raises(Conflict, match="not available"):
        reward_redeem(member_id=member.pk, reward_id=reward.pk)
    assert available_points(member) == 250


def test_the_last_item_of_stock_goes_once(member):
    reward = discount_reward(point_cost=10, stock=1)
    reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="1")
    with pytest.raises(Conflict, match="not available"):
        reward_redeem_answer(member_id=member.pk, reward_id=reward.pk, key="2")
    reward.refresh_from_db()
    assert reward.stock == 0


def test_names_follow_the_customers_language(member):
    from django.utils import translation

    reward = discount_reward(name_pl="")
    with translation.override("ru"):
        assert reward.name == "Скидка 10% на следующую покупку"
    with translation.override("pl"):
        assert reward.name == "10% off your next purchase"


def test_a_personal_offer_is_a_voucher_that_costs_no_points(member):
    voucher = personal_offer_issue(
        member=member, title="15% off for coming back", valid_days=7, discount_percent=Decimal(15)
    )
    assert (voucher.source, voucher.points_spent, voucher.kind) == (
        Voucher.Source.PERSONAL_OFFER,
        0,
        Reward.Kind.PERCENT_DISCOUNT,
    )
    assert voucher.valid_until - voucher.issued_at == timedelta(days=7)
    assert available_points(member) == 250
    assert not Transfer.objects.filter(code=Code.REWARD).exists()


def test_the_database_refuses_a_used_voucher_without_a_time(member):
    voucher = personal_offer_issue(
        member=member, title="Gift", valid_days=7, discount_amount=Decimal(100)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.USED)


def test_the_database_refuses_a_percent_reward_without_a_percent(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Reward.objects.create(kind=Reward.Kind.PERCENT_DISCOUNT, name_en="x", point_cost=10)
