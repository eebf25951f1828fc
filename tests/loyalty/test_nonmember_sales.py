"""Tills report their receipts without a card, so members can be compared with the rest."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import NonMemberSales
from loyalty.reports import daily_figures_refresh, dashboard
from loyalty.services.purchases import purchase_record
from tests.conftest import api_client_for
from tests.factories import CardFactory, OutletFactory, PartnerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/non-member-sales/"


def test_a_till_reports_running_totals_and_the_last_report_counts(operator, program):
    outlet = OutletFactory(partner=operator, code="central")
    till = api_client_for(operator, outlet=outlet)
    today = timezone.localdate().isoformat()
    first = till.put(URL, {"day": today, "receipts": 10, "revenue": "4000.00"}, format="json")
    assert first.status_code == 200, first.json()
    assert first.json()["outlet"] == "central"
    till.put(URL, {"day": today, "receipts": 25, "revenue": "9000.50"}, format="json")
    sales = NonMemberSales.objects.get()
    assert (sales.outlet, sales.receipts, sales.revenue) == (outlet, 25, Decimal("9000.50"))


def test_bad_reports_are_refused_with_the_field(operator, program):
    till = api_client_for(operator)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    future = till.put(URL, {"day": tomorrow, "receipts": 1, "revenue": "5.00"}, format="json")
    assert (future.status_code, list(future.json()["fields"])) == (400, ["day"])
    today = timezone.localdate().isoformat()
    empty = till.put(URL, {"day": today, "receipts": 0, "revenue": "5.00"}, format="json")
    assert (empty.status_code, list(empty.json()["fields"])) == (400, ["receipts"])
    negative = till.put(URL, {"day": today, "receipts": -1, "revenue": "5.00"}, format="json")
    assert negative.status_code == 400
    assert not NonMemberSales.objects.exists()


def test_partners_report_their_own_and_each_keeps_its_day(operator, program):
    today = timezone.localdate().isoformat()
    api_client_for(operator).put(
        URL, {"day": today, "receipts": 3, "revenue": "300"}, format="json"
    )
    bank = PartnerFactory(code="bank")
    api_client_for(bank).put(URL, {"day": today, "receipts": 7, "revenue": "700"}, format="json")
    assert sorted(NonMemberSales.objects.values_list("partner__code", "receipts")) == [
        ("bank", 7),
        ("main", 3),
    ]


def test_the_dashboard_compares_receipts_with_a_card_and_without(operator, program):
    day = date(2026, 11, 2)
    card = CardFactory(partner=operator)
    now = timezone.make_aware(timezone.datetime(2026, 11, 2, 12))
    purchase_record(
        partner=operator, card_number=card.number, receipt_id="M1", amount=3000, now=now
    )
    NonMemberSales.objects.create(
        partner=operator, day=day, receipts=3, revenue=Decimal("1500"), updated_at=now
    )
    daily_figures_refresh(day, day)
    board = dashboard(day, day, today=day)
    assert board.member_share_of_receipts == 0.25
    assert board.nonmember_average_receipt == Decimal("500.00")
    assert board.average_receipt == Decimal("3000.00")
