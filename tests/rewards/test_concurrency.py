"""Rewards and vouchers under concurrent requests, on real PostgreSQL transactions."""

from decimal import Decimal

import pytest

from loyalty.adjustments import points_adjust
from loyalty.exceptions import Conflict
from loyalty.ledger import ledger_breaches
from loyalty.program import program_settings_update
from partners.services import api_key_create
from rewards.api import reward_redeem_answer
from rewards.models import Reward, Voucher
from rewards.services import personal_offer_issue
from tests.factories import CardFactory, MemberFactory, PartnerFactory
from tests.schema_check import APIClient
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator():
    program_settings_update(pending_days=14, min_balance_to_redeem=0)
    return PartnerFactory(code="main")


def test_a_hundred_members_after_the_last_five_items_five_succeed(operator):
    members = [MemberFactory() for _ in range(100)]
    for member in members:
        points_adjust(member=member, points=100, reason="balance")
    reward = Reward.objects.create(
        kind=Reward.Kind.GIFT, name_en="Tote bag", point_cost=100, stock=5
    )

    def redeem(i):
        try:
            return reward_redeem_answer(
                member_id=members[i].pk, reward_id=reward.pk, key=None
            ).status
        except Conflict:
            return 409

    statuses = run_together(100, redeem, threads=40)
    assert (statuses.count(201), statuses.count(409)) == (5, 95)
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Voucher.objects.count() == 5
    winners = set(Voucher.objects.values_list("member_id", flat=True))
    spent = [member for member in members if member.accounts.get(kind="available").balance == 0]
    assert {member.pk for member in spent} == winners
    assert not ledger_breaches()


def test_twenty_tills_using_one_voucher_at_once_use_it_once(operator):
    card = CardFactory(partner=operator)
    voucher = personal_offer_issue(
        member=card.member, title="Gift", valid_days=3, discount_amount=Decimal(50)
    )
    raw_key = api_key_create(partner=operator)

    def use(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        return client.post(
            f"/api/v1/vouchers/{voucher.code}/redeem/",
            {"receipt_id": f"R-{i}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"till-{i}",
        ).status_code

    statuses = run_together(20, use)
    assert (statuses.count(200), statuses.count(409)) == (1, 19)
