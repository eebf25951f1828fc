"""A partner's figures for a period come from the ledger and reconcile with it."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.adjustments import points_adjust
from loyalty.ledger import Kind
from loyalty.models import Account
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from partners.models import PartnerRate
from partners.settlement import partner_period_figures
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db

MONTH_START = timezone.now() - timedelta(days=1)
MONTH_END = timezone.now() + timedelta(days=1)


def test_figures_are_priced_at_the_rate_of_their_day(operator, program):
    bank = PartnerFactory(code="bank", name="Bank")
    PartnerRate.objects.create(
        partner=bank, valid_from=date(2020, 1, 1), issued_price="0.50", redeemed_price="0.40"
    )
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=100, reason="balance")
    bought = purchase_record(
        partner=bank, card_number=card.number, receipt_id="B1", amount=2000, redeem_points=30
    )
    refund_record(partner=bank, purchase_id=bought.purchase.pk, amount=Decimal("1000"))
    figures = partner_period_figures(bank, MONTH_START, MONTH_END)
    assert (figures.points_issued, figures.points_reversed) == (19, 9)
    assert (figures.points_redeemed, figures.points_returned) == (30, 15)
    assert figures.due_from_partner == Decimal("5.00")  # (19 - 9) x 0.50
    assert figures.due_to_partner == Decimal("6.00")  # (30 - 15) x 0.40
    assert figures.net_due_from_partner == Decimal("-1.00")
    assert figures.points_unpriced == 0


def test_points_before_the_first_rate_are_counted_but_not_priced(operator, program):
    shop = PartnerFactory(code="shop", name="Shop")
    card = CardFactory(partner=operator)
    purchase_record(partner=shop, card_number=card.number, receipt_id="S1", amount=500)
    figures = partner_period_figures(shop, MONTH_START, MONTH_END)
    assert (figures.points_issued, figures.points_unpriced, figures.due_from_partner) == (
        5,
        5,
        Decimal("0.00"),
    )


operations = st.lists(
    st.tuples(
        st.integers(0, 2),  # partner
        st.integers(100, 5000),  # amount
        st.integers(0, 40),  # points to pay with
        st.sampled_from([None, Decimal("0.5"), Decimal("1")]),  # share refunded
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_the_partners_figures_reconcile_with_the_members_balances(operator, ops):
    """Points issued minus points redeemed, over all partners, is what members gained."""
    program_settings_update(pending_days=14, max_redeem_share="1", min_balance_to_redeem=0)
    partners = [operator, PartnerFactory(code="p1"), PartnerFactory(code="p2")]
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=1000, reason="start")
    before = _member_points(card.member), _net_issued(partners)
    for who, amount, redeem, refunded in ops:
        result = purchase_record(
            partner=partners[who],
            card_number=card.number,
            receipt_id=f"R{uuid.uuid4().hex}",
            amount=Decimal(amount),
            redeem_points=redeem,
        )
        if refunded is not None:
            refund_record(
                partner=partners[who],
                purchase_id=result.purchase.pk,
                amount=Decimal(amount) * refunded,
            )
    # Examples share the database: compare what changed during this one.
    assert _net_issued(partners) - before[1] == _member_points(card.member) - before[0]


def _net_issued(partners) -> int:
    """Points issued minus points redeemed over all partners, net of refunds."""
    totals = [partner_period_figures(p, MONTH_START, MONTH_END) for p in partners]
    return sum(
        f.points_issued - f.points_reversed - f.points_redeemed + f.points_returned for f in totals
    )


def _member_points(member) -> int:
    balances = dict(
        Account.objects.filter(member=member).values_list("kind").annotate(total=Sum("balance"))
    )
    return balances[Kind.AVAILABLE] + balances[Kind.PENDING] - balances[Kind.DEBT]
