"""The what-if preview replays past purchases with a draft rule and writes nothing."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.models import EarningRule, Purchase, Transfer
from loyalty.preview import rule_preview
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(operator, program):
    """Six receipts over the last 20 days by two members, and one 40 days ago."""
    program_settings_update(point_value=Decimal("0.50"))
    now = timezone.now()
    anna, boris = CardFactory(partner=operator), CardFactory(partner=operator)
    receipts = [(anna, "1000", 1), (anna, "300", 5), (boris, "2500", 8), (boris, "80", 12)]
    receipts += [(anna, "600", 19), (boris, "1200", 20), (anna, "5000", 40)]
    for card, amount, days_ago in receipts:
        purchase_record(
            partner=operator,
            card_number=card.number,
            receipt_id=str(uuid.uuid4()),
            amount=Decimal(amount),
            now=now - timedelta(days=days_ago),
        )
    return anna, boris


def test_a_draft_rule_shows_its_extra_points_and_liability(history):
    draft = EarningRule.objects.create(
        name="Double above 500", action="multiply", value=2, min_amount=500, is_active=False
    )
    transfers = Transfer.objects.count()
    preview = rule_preview(draft, days=30)
    # Base points of the receipts from 500 up within 30 days: 10 + 25 + 6 + 12.
    assert (preview.purchases, preview.purchases_affected, preview.members_affected) == (6, 4, 2)
    assert preview.extra_points == 53
    assert preview.liability == Decimal("26.50")
    assert Transfer.objects.count() == transfers
    assert Purchase.objects.filter(points_earned__gt=60).count() == 0


def test_the_preview_simulates_a_cap_per_member(history):
    draft = EarningRule.objects.create(
        name="100 a receipt, 150 a member",
        action="add_fixed",
        value=100,
        cap_per_member=150,
        cap_period="ever",
        is_active=False,
    )
    assert rule_preview(draft, days=30).extra_points == 300  # 150 for each of the two


def test_an_exclusive_draft_counts_only_what_it_adds_over_the_live_rules(history):
    EarningRule.objects.create(name="Live +20", action="add_fixed", value=20)
    draft = EarningRule.objects.create(
        name="Exclusive +50", action="add_fixed", value=50, stackable=False, is_active=False
    )
    assert rule_preview(draft, days=30).extra_points == 6 * 30


def test_the_admin_preview_page(client, history):
    client.force_login(User.objects.create_superuser("m", "m@example.com", "pw-test-only"))
    draft = EarningRule.objects.create(
        name="Double above 500", action="multiply", value=2, min_amount=500, is_active=False
    )
    url = reverse("admin:loyalty_earningrule_what_if", args=[draft.pk])
    assert "Preview" in client.get(url).content.decode()
    page = client.post(url, {"days": 30}).content.decode()
    assert 'data-testid="extra-points">53<' in page
    assert client.post(url, {"days": 0}).status_code == 200  # the form explains the error
