"""Co-branded cards: a range a partner owns earns its multiplier wherever the member buys."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.ledger import ledger_breaches
from loyalty.models import Purchase
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from partners.selectors import cobrand_multipliers
from partners.settlement import partner_period_figures
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(operator):
    return PartnerFactory(code="bank", name="Bank", cobrand_multiplier=Decimal("1.5"))


def test_a_cobranded_card_earns_the_partners_multiplier(operator, program, bank):
    card = CardFactory(partner=bank)
    result = purchase_record(
        partner=operator, card_number=card.number, receipt_id="R1", amount=Decimal("1000")
    )
    assert result.purchase.points_earned == 15
    rules = {rule["rule"]: rule for rule in result.purchase.applied_rules}
    assert rules[f"cobrand:{bank.pk}"]["points"] == 5
    assert rules[f"cobrand:{bank.pk}"]["description"] == "Bank card ×1.5"  # noqa: RUF001
    refund_record(partner=operator, purchase_id=result.purchase.pk, amount=Decimal("1000"))
    assert not ledger_breaches()


def test_the_card_partner_pays_for_the_extra_points_and_gets_them_back_on_refunds(
    operator, program, bank
):
    card = CardFactory(partner=bank)
    bought = purchase_record(
        partner=operator, card_number=card.number, receipt_id="R1", amount=Decimal("1000")
    )
    assert (_net_issued(operator), _net_issued(bank)) == (10, 5)

    refund_record(partner=operator, purchase_id=bought.purchase.pk, amount=Decimal("500"))
    assert (_net_issued(operator), _net_issued(bank)) == (5, 3)  # each share halved, rounded down
    refund_record(partner=operator, purchase_id=bought.purchase.pk, amount=Decimal("500"))
    assert (_net_issued(operator), _net_issued(bank)) == (0, 0)
    assert not ledger_breaches()


def test_points_already_released_and_spent_are_reversed_per_payer_into_debt(
    operator, instant_program, bank
):
    card = CardFactory(partner=bank)
    bought = purchase_record(
        partner=operator, card_number=card.number, receipt_id="R1", amount=Decimal("2000")
    )
    purchase_record(
        partner=operator,
        card_number=card.number,
        receipt_id="R2",
        amount=Decimal("100"),
        redeem_points=30,
    )
    refund = refund_record(partner=operator, purchase_id=bought.purchase.pk, amount=Decimal("2000"))
    # 20 points paid for by the operator, 10 by the bank, all spent: all of it is debt.
    assert (refund.refund.points_reversed, refund.refund.debt_booked) == (30, 30)
    assert (_net_issued(operator), _net_issued(bank)) == (0, 0)
    assert not ledger_breaches()


def test_a_partners_own_cobranded_card_at_its_own_till_is_paid_by_it_alone(program, bank):
    card = CardFactory(partner=bank)
    purchase_record(partner=bank, card_number=card.number, receipt_id="R1", amount=Decimal("1000"))
    assert _net_issued(bank) == 15
    assert Purchase.objects.get().cobrand_points == 0


def _net_issued(partner) -> int:
    """Points the partner paid for, net of reversals (its `issued` account's debits)."""
    now = timezone.now()
    figures = partner_period_figures(partner, now - timedelta(days=1), now + timedelta(days=1))
    return figures.points_issued - figures.points_reversed


def test_the_operators_own_cards_earn_no_extra(operator, program, bank):
    card = CardFactory(partner=operator)
    result = purchase_record(
        partner=operator, card_number=card.number, receipt_id="R1", amount=Decimal("1000")
    )
    assert result.purchase.points_earned == 10


def test_a_multiplier_saved_in_the_admin_applies_at_once(client, operator, program):
    bank = PartnerFactory(code="bank", name="Bank")
    assert cobrand_multipliers() == {}
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    url = reverse("admin:partners_partner_change", args=[bank.pk])
    form = {
        "name": "Bank",
        "code": "bank",
        "status": "active",
        "cobrand_multiplier": "2.00",
        "outlets-TOTAL_FORMS": "0",
        "outlets-INITIAL_FORMS": "0",
        "rates-TOTAL_FORMS": "0",
        "rates-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert cobrand_multipliers()[bank.pk].multiplier == Decimal("2.00")
