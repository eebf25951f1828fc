from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from loyalty.ledger import ledger_breaches
from loyalty.models import MemberTier, Purchase, Tier
from members.models import Card, Member, Segment
from partners.models import Partner, Statement
from rewards.models import Reward, Voucher

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_a_consistent_program_and_prints_logins(operator, capsys):
    call_command("seed_demo", "--members", "15")
    output = capsys.readouterr().out
    assert Member.objects.count() == 15
    assert Card.objects.filter(status="blank").count() == 50
    assert Purchase.objects.exists()
    assert User.objects.get(username="marketer").is_staff
    assert "marketer-demo-2026" in output
    assert "POS API key:" in output
    assert "customer@example.com" in output
    customer = Member.objects.get(user__username="customer")
    assert customer.purchases.exists()
    assert not ledger_breaches()


def test_the_demo_ships_vip_the_discount_ladder_and_the_club(operator):
    call_command("seed_demo", "--members", "40")
    vip = Tier.objects.get(name="VIP")
    assert (vip.min_spend, vip.free_delivery, vip.personal_manager) == (
        Decimal("10000.01"),
        True,
        True,
    )
    assert vip.ladder.window == "calendar_month"
    assert MemberTier.objects.filter(tier__ladder__name="Discount").exists()
    assert MemberTier.objects.filter(tier__ladder__name="Club").count() == 2
    assert Segment.objects.get(name="Coffee lovers").members.exists()


def test_the_demo_catalogue_has_the_ten_percent_voucher_and_vouchers_bought(operator):
    call_command("seed_demo", "--members", "40")
    ten = Reward.objects.get(point_cost=100)
    assert (ten.kind, ten.discount_percent) == ("percent_discount", Decimal("10.00"))
    assert Reward.objects.get(name_en__contains="tote").tiers.get().name == "VIP"
    assert Voucher.objects.filter(reward=ten).exists()
    assert not ledger_breaches()


def test_seed_demo_twice_adds_nothing(operator):
    call_command("seed_demo", "--members", "5")
    call_command("seed_demo", "--members", "5")
    assert Member.objects.count() == 5


def test_the_demo_has_a_coalition_partner_with_closed_statements(operator, capsys):
    call_command("seed_demo", "--members", "40")
    pharmacy = Partner.objects.get(code="pharmacy")
    assert Purchase.objects.filter(partner=pharmacy).exists()
    assert Statement.objects.filter(partner=pharmacy, status="closed").exists()
    this_month = timezone.localdate().replace(day=1)
    assert Statement.objects.get(partner=pharmacy, month=this_month).status == "open"
    assert "Partner API key (City Pharmacy):" in capsys.readouterr().out
