"""Every admin page a marketer opens renders, in each language, and the ledger is read-only."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from loyalty.adjustments import points_adjust
from loyalty.answers import purchase_answer
from loyalty.models import Transfer
from loyalty.services.purchases import purchase_record
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, operator, program):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw-for-tests-only")
    client.force_login(user)
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=50, reason="admin test")
    purchase_record(partner=operator, card_number=card.number, receipt_id="R-1", amount=500)
    return client


def _model_admin_urls():
    for model in admin.site._registry:
        meta = model._meta
        yield f"admin:{meta.app_label}_{meta.model_name}_changelist"


@pytest.mark.parametrize("url_name", sorted(_model_admin_urls()))
def test_every_changelist_and_first_object_render(staff_client, url_name):
    response = staff_client.get(reverse(url_name), follow=True)
    assert response.status_code == 200
    cl = response.context.get("cl")
    if cl is not None and cl.result_list:
        obj = cl.result_list[0]
        meta = obj._meta
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        assert staff_client.get(change).status_code == 200


@pytest.mark.parametrize(("language", "word"), [("ru", "Участники"), ("pl", "Uczestnicy")])
def test_admin_speaks_the_chosen_language(staff_client, language, word):
    staff_client.post(reverse("set_language"), {"language": language, "next": "/admin/"})
    assert word in staff_client.get("/admin/").content.decode()


def test_transfers_cannot_be_added_changed_or_deleted_in_the_admin(staff_client):
    transfer = Transfer.objects.first()
    assert staff_client.get(reverse("admin:loyalty_transfer_add")).status_code == 403
    change = reverse("admin:loyalty_transfer_change", args=[transfer.pk])
    before = transfer.amount
    staff_client.post(change, {"amount": before + 1000})
    transfer.refresh_from_db()
    assert transfer.amount == before
    delete = reverse("admin:loyalty_transfer_delete", args=[transfer.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403


def test_creating_an_api_key_in_the_admin_shows_it_once(staff_client, operator):
    response = staff_client.post(
        reverse("admin:partners_apikey_add"),
        {"partner": operator.pk, "name": "Till 1"},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("shown only once" in m for m in messages)


def test_program_settings_list_opens_the_single_settings_page(staff_client):
    response = staff_client.get(reverse("admin:loyalty_programsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"].endswith("/programsettings/1/change/")


def test_saving_program_settings_in_the_admin_takes_effect_at_once(staff_client):
    from loyalty.program import program_settings

    program_settings()  # cached before the change
    form = {
        "currency": "PLN",
        "point_name": "punkty",
        "card_prefix": "201",
        "earn_mode": "rate",
        "earn_points": 2,
        "earn_amount": "10.00",
        "cashback_percent": "0",
        "rounding": "floor",
        "expiry_period": "exact",
        "pending_days": 0,
        "expiry_months": 6,
        "point_value": "0.1000",
        "max_redeem_share": "0.3000",
        "min_balance_to_redeem": 0,
        "adjustment_approval_threshold": 250,
    }
    change = reverse("admin:loyalty_programsettings_change", args=[1])
    assert staff_client.post(change, form).status_code == 302
    assert program_settings().currency == "PLN"
    assert program_settings().earn_points == 2


def program_form(**changes) -> dict:
    """The program settings page's form as saved, with `changes`."""
    return {
        "currency": "RUB",
        "point_name": "points",
        "card_prefix": "200",
        "earn_mode": "cashback",
        "earn_points": 1,
        "earn_amount": "100",
        "cashback_percent": "0",
        "rounding": "floor",
        "pending_days": 14,
        "expiry_months": 12,
        "expiry_period": "exact",
        "point_value": "1",
        "max_redeem_share": "0.5",
        "min_balance_to_redeem": 0,
        "adjustment_approval_threshold": 1000,
        **changes,
    }


def test_invalid_program_settings_are_explained_on_the_form(staff_client):
    change = reverse("admin:loyalty_programsettings_change", args=[1])
    form = program_form()
    response = staff_client.post(change, form)
    assert response.status_code == 200
    assert "Cashback needs a percent above zero." in response.content.decode()


def test_a_rule_saved_in_the_admin_applies_to_the_next_purchase(staff_client, operator):
    from loyalty.services.purchases import purchase_record
    from members.models import Card

    form = {
        "name": "Weekend bonus",
        "is_active": "on",
        "priority": 0,
        "stackable": "on",
        "action": "add_fixed",
        "value": "25",
        "weekdays": "[]",
        "cap_period": "month",
        "skus": "",
        "categories": "",
    }
    response = staff_client.post(reverse("admin:loyalty_earningrule_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    card = Card.objects.first()
    body = purchase_answer(
        purchase_record(partner=operator, card_number=card.number, receipt_id="R-admin", amount=100)
    ).body
    assert body["applied_rules"][-1]["description"] == "Weekend bonus"


def test_purchase_page_explains_the_points(staff_client):
    from loyalty.models import Purchase

    purchase = Purchase.objects.get(receipt_id="R-1")
    page = staff_client.get(reverse("admin:loyalty_purchase_change", args=[purchase.pk]))
    assert page.status_code == 200
    assert "1 per 100.00 RUB paid: <strong>5</strong>" in page.content.decode()


def test_only_administrators_change_which_adjustments_need_a_second_person(client, program):
    from loyalty.program import (
        program_settings,
        program_settings_cache_clear,
        program_settings_update,
    )
    from tests.config.test_roles import staff

    program_settings_update(adjustment_approval_threshold=100)
    change = reverse("admin:loyalty_programsettings_change", args=[1])
    form = program_form(earn_mode="rate", adjustment_approval_threshold=1_000_000)
    client.force_login(staff("Marketer"))
    page = client.get(change).content.decode()
    assert 'name="adjustment_approval_threshold"' not in page
    assert client.post(change, form).status_code == 302  # the rest of the settings save
    program_settings_cache_clear()
    assert program_settings().adjustment_approval_threshold == 100
    client.force_login(staff("Administrator"))
    client.post(change, form)
    program_settings_cache_clear()
    assert program_settings().adjustment_approval_threshold == 1_000_000
