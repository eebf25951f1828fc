"""Partner rates: money per point issued and redeemed, versioned by the day they start."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse

from partners.models import PartnerRate
from partners.selectors import partner_rate_on
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    bank = PartnerFactory(code="bank", name="Bank", contact_email="loyalty@bank.example")
    PartnerRate.objects.create(
        partner=bank, valid_from=date(2026, 1, 1), issued_price="0.80", redeemed_price="0.70"
    )
    PartnerRate.objects.create(
        partner=bank, valid_from=date(2026, 7, 1), issued_price="0.90", redeemed_price="0.75"
    )
    return bank


@pytest.mark.parametrize(
    ("day", "issued"),
    [
        (date(2025, 12, 31), None),
        (date(2026, 1, 1), Decimal("0.8000")),
        (date(2026, 6, 30), Decimal("0.8000")),
        (date(2026, 7, 1), Decimal("0.9000")),
        (date(2027, 3, 1), Decimal("0.9000")),
    ],
)
def test_the_rate_of_a_day_is_the_latest_that_had_started(bank, day, issued):
    rate = partner_rate_on(bank, day)
    assert (rate.issued_price if rate else None) == issued


def test_one_rate_per_partner_and_day(bank):
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerRate.objects.create(
            partner=bank, valid_from=date(2026, 7, 1), issued_price=1, redeemed_price=1
        )


def test_the_database_refuses_a_negative_price(bank):
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerRate.objects.create(
            partner=bank, valid_from=date(2027, 1, 1), issued_price=-1, redeemed_price=1
        )


def test_the_partner_page_shows_contacts_and_rates_read_only(client, bank):
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    page = client.get(reverse("admin:partners_partner_change", args=[bank.pk]))
    html = page.content.decode()
    assert "loyalty@bank.example" in html
    assert "0.9000" in html
    assert 'name="rates-0-issued_price"' not in html  # applied rates are not editable
