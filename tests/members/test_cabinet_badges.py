"""The cabinet's badges page: earned badges with their date, and what the others need."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import Badge, Tier, TierLadder
from loyalty.services.purchases import purchase_record
from members.templatetags.locale_format import money
from tests.factories import CardFactory
from tests.members.test_cabinet import _sms_outbox, customer, linked  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_earned_badges_show_their_date_and_the_others_what_is_missing(
    client,
    linked,  # noqa: F811
    operator,
):
    gold = Tier.objects.create(
        ladder=TierLadder.objects.create(name="Spend", window="lifetime"),
        rank=1,
        name="Gold",
        min_spend=Decimal("100000"),
    )
    Badge.objects.create(rule="first_purchase", name_en="Welcome", name_ru="Добро пожаловать")
    Badge.objects.create(rule="purchases_in_month", count=3, name_en="Regular", points=50)
    Badge.objects.create(rule="tier_reached", tier=gold, name_en="Golden")
    Badge.objects.create(rule="record_receipt", name_en="Biggest customer")
    Badge.objects.create(rule="first_purchase", name_en="Retired", is_active=False)
    someone = CardFactory(partner=operator)
    purchase_record(partner=operator, card_number=someone.number, receipt_id="R1", amount=4000)
    purchase_record(partner=operator, card_number=linked.number, receipt_id="R2", amount=1500)

    html = client.get(reverse("cabinet-badges")).content.decode()
    assert "You have 1 badge of 4." in html
    assert "Welcome" in html
    assert "Earned " in html
    assert "2 more purchases this month." in html
    assert "Comes with 50 points." in html
    assert "Reach Gold." in html
    record = money(Decimal("4000"))
    assert f"Beat the record: more than {record} on one receipt." in html
    assert "Retired" not in html

    russian = client.get(reverse("cabinet-badges"), HTTP_ACCEPT_LANGUAGE="ru")
    assert "Добро пожаловать" in russian.content.decode()


def test_the_page_needs_a_card(client, customer):  # noqa: F811
    assert client.get(reverse("cabinet-badges")).url == reverse("cabinet-start")
