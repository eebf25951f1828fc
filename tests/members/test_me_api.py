"""`/api/v1/me/`: the cabinet for a mobile app, by token or session, one member only."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from loyalty.adjustments import points_adjust
from loyalty.services.purchases import purchase_record
from members.models import Member
from rewards.models import Reward, Voucher
from rewards.services import reward_redeem
from tests.factories import CardFactory, OutletFactory
from tests.schema_check import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_user(operator, program):
    card = CardFactory(partner=operator)
    user = User.objects.create_user("anna", email="anna@example.com", password="pw-test-only")
    Member.objects.filter(pk=card.member_id).update(user=user)
    points_adjust(member=card.member, points=150, reason="balance")
    return card, user


@pytest.fixture
def app(client, member_user):
    response = APIClient().post(
        "/api/v1/me/token/",
        {"email": "anna@example.com", "password": "pw-test-only"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return api


def test_a_wrong_password_gets_no_token(member_user):
    response = APIClient().post(
        "/api/v1/me/token/", {"email": "anna@example.com", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert "not right" in response.json()["detail"]


def test_me_answers_the_members_card_balance_and_status(app, member_user):
    card, _user = member_user
    body = app.get("/api/v1/me/").json()
    assert (body["card"], body["phone"]) == (card.number, card.member.phone)
    assert body["balance"]["available"] == 150
    assert body["discount_percent"] == "0.00"


def test_history_is_paginated_and_filtered(app, member_user, operator):
    card, _user = member_user
    outlet = OutletFactory(partner=operator, name="Central")
    purchase_record(
        partner=operator, outlet=outlet, card_number=card.number, receipt_id="R1", amount=500
    )
    body = app.get("/api/v1/me/history/").json()
    assert (len(body["results"]), body["has_next"]) == (2, False)
    first = body["results"][0]
    assert (first["code"], first["points"], first["pending"], first["outlet"]) == (
        "purchase_earn",
        5,
        True,
        "Central",
    )
    only = app.get("/api/v1/me/history/", {"kind": "adjustments"}).json()
    assert [entry["points"] for entry in only["results"]] == [150]
    bad = app.get("/api/v1/me/history/", {"date_from": "yesterday"})
    assert bad.status_code == 400
    paged = app.get("/api/v1/me/history/", {"page_size": 1}).json()
    assert (len(paged["results"]), paged["has_next"]) == (1, True)
    assert app.get("/api/v1/me/history/", {"page_size": 500}).status_code == 400


def test_redeeming_through_the_app_is_idempotent(app):
    reward = Reward.objects.create(
        kind="percent_discount", name_en="10% off", point_cost=100, discount_percent=Decimal(10)
    )
    catalogue = app.get("/api/v1/me/rewards/").json()
    assert [(item["name"], item["affordable"]) for item in catalogue] == [("10% off", True)]
    url = f"/api/v1/me/rewards/{reward.pk}/redeem/"
    first = app.post(url, HTTP_IDEMPOTENCY_KEY="tap-1")
    again = app.post(url, HTTP_IDEMPOTENCY_KEY="tap-1")
    assert first.status_code == 201, first.json()
    assert again.json() == first.json()
    assert Voucher.objects.count() == 1
    vouchers = app.get("/api/v1/me/vouchers/").json()
    assert [v["code"] for v in vouchers] == [first.json()["code"]]
    assert app.post(url, HTTP_IDEMPOTENCY_KEY="tap-2").status_code == 409  # 50 points left


def test_an_unknown_reward_is_not_found(app):
    response = app.post("/api/v1/me/rewards/999999/redeem/", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 404


def test_the_cabinet_session_works_too(client, member_user):
    _card, user = member_user
    client.force_login(user)
    assert client.get("/api/v1/me/").json()["balance"]["available"] == 150


def test_without_a_login_or_a_card_there_is_nothing(operator, program):
    assert APIClient().get("/api/v1/me/").status_code in (401, 403)
    User.objects.create_user("nocard", password="pw-test-only")
    api = APIClient()
    api.force_authenticate(User.objects.get(username="nocard"))
    response = api.get("/api/v1/me/")
    assert response.status_code == 403
    assert "link or get a card" in response.json()["detail"]


def test_a_partner_key_does_not_open_a_members_data(pos, member_user):
    assert pos.get("/api/v1/me/").status_code in (401, 403)


def test_another_members_vouchers_never_show(app, operator):
    other = CardFactory(partner=operator)
    points_adjust(member=other.member, points=100, reason="balance")
    reward = Reward.objects.create(kind="gift", name_en="Mug", point_cost=100)
    reward_redeem(member_id=other.member_id, reward_id=reward.pk)
    assert app.get("/api/v1/me/vouchers/").json() == []
    assert len(app.get("/api/v1/me/history/").json()["results"]) == 1


def test_password_guessing_through_the_token_endpoint_is_throttled(member_user):
    client = APIClient()
    statuses = [
        client.post(
            "/api/v1/me/token/",
            {"email": "anna@example.com", "password": f"guess-{n}"},
            format="json",
        ).status_code
        for n in range(8)
    ]
    # allauth's limit: five failures per account, then the account waits.
    assert statuses == [401] * 5 + [429] * 3
