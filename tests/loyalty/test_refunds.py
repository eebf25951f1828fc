import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.exceptions import InvalidRequest
from loyalty.jobs import pending_release_due
from loyalty.models import Account, Refund
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from tests.conftest import api_client_for
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


def buy(card, amount, redeem=0, receipt=None):
    result = purchase_record(
        partner=card.partner,
        card_number=card.number,
        receipt_id=receipt or str(uuid.uuid4()),
        amount=Decimal(amount),
        redeem_points=redeem,
    )
    return result.purchase.pk


def refund(client, purchase_id, amount, key=None):
    return client.post(
        f"/api/v1/purchases/{purchase_id}/refunds/",
        {"amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def balances(member):
    return dict(Account.objects.filter(member=member).values_list("kind", "balance"))


def test_full_refund_of_pending_points_reverses_them_all(pos, card, program, ledger_consistent):
    purchase_id = buy(card, "1000")
    body = refund(pos, purchase_id, "1000").json()
    assert body["points_reversed"] == 10
    assert body["debt_booked"] == 0
    assert balances(card.member) == {"available": 0, "pending": 0, "debt": 0}


def test_partial_refunds_reverse_proportionally_without_drift(
    pos, card, program, ledger_consistent
):
    purchase_id = buy(card, "1000")  # 10 points
    parts = ["333", "333", "334"]
    reversed_points = [refund(pos, purchase_id, p).json()["points_reversed"] for p in parts]
    # floor(10 * 333/1000) = 3, floor(10 * 666/1000) = 6, and the full refund takes the rest
    assert reversed_points == [3, 3, 4]


def test_refund_returns_redeemed_points_proportionally(
    pos, card, instant_program, ledger_consistent
):
    points_adjust(member=card.member, points=100, reason="welcome")
    purchase_id = buy(card, "1000", redeem=100)  # pays 900 in money, earns 9
    body = refund(pos, purchase_id, "500").json()
    assert body["points_returned"] == 50
    assert body["points_reversed"] == 4
    assert balances(card.member)["available"] == 9 + 50 - 4


def test_refund_after_points_were_spent_books_debt(pos, card, instant_program, ledger_consistent):
    purchase_id = buy(card, "5000")  # 50 points, available at once
    buy(card, "100", redeem=50)  # the member spends them (and earns 0.5 -> 0)
    body = refund(pos, purchase_id, "5000").json()
    assert body["points_reversed"] == 50
    assert body["debt_booked"] == 50
    assert balances(card.member) == {"available": 0, "pending": 0, "debt": 50}


def test_debt_is_repaid_from_the_next_points_earned(pos, card, instant_program, ledger_consistent):
    purchase_id = buy(card, "5000")
    buy(card, "100", redeem=50)
    refund(pos, purchase_id, "5000")
    buy(card, "3000")  # earns 30: all go to the debt
    assert balances(card.member) == {"available": 0, "pending": 0, "debt": 20}
    buy(card, "4000")  # earns 40: 20 repay the debt, 20 become available
    assert balances(card.member) == {"available": 20, "pending": 0, "debt": 0}


def test_pending_points_released_later_repay_debt_first(pos, card, program, ledger_consistent):
    points_adjust(member=card.member, points=30, reason="welcome")
    first = buy(card, "100", redeem=30)  # earns 0 (70 paid)
    spent = buy(card, "3000")  # 30 pending
    pending_release_due(now=timezone.now() + timedelta(days=15))
    buy(card, "100", redeem=30)
    refund(pos, spent, "3000")  # the 30 were spent: debt 30
    assert balances(card.member)["debt"] == 30
    refund(pos, first, "100")  # returns the 30 redeemed points: they repay the debt
    assert balances(card.member) == {"available": 0, "pending": 0, "debt": 0}


def test_refunding_more_than_was_paid_is_400(pos, card, program):
    purchase_id = buy(card, "100")
    refund(pos, purchase_id, "60")
    response = refund(pos, purchase_id, "50")
    assert response.status_code == 400
    assert "40" in response.json()["fields"]["amount"][0]
    assert Refund.objects.count() == 1


def test_refund_of_another_partners_purchase_is_404(operator, card, program):
    purchase_id = buy(card, "100")
    assert refund(api_client_for(PartnerFactory()), purchase_id, "10").status_code == 404


def test_refund_replay_returns_the_original_and_refunds_once(pos, card, program):
    purchase_id = buy(card, "1000")
    first = refund(pos, purchase_id, "100", key="refund-1")
    replay = refund(pos, purchase_id, "100", key="refund-1")
    assert replay.json() == first.json()
    assert Refund.objects.count() == 1
    assert balances(card.member)["pending"] == 9


def test_refund_needs_a_positive_amount(pos, card, program):
    purchase_id = buy(card, "100")
    assert refund(pos, purchase_id, "0").status_code == 400
    assert refund(pos, purchase_id, "-1").status_code == 400


def test_refund_of_unknown_purchase_is_404(pos, program):
    assert refund(pos, 999999, "1").status_code == 404


def test_refund_service_refuses_amount_beyond_purchase(card, program):
    purchase_id = buy(card, "100")
    with pytest.raises(InvalidRequest):
        refund_record(partner=card.partner, purchase_id=purchase_id, amount=Decimal("100.01"))
