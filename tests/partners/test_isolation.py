"""A partner sees only its own data: every object id of another partner answers 404,
and its idempotency keys replay nothing of another's."""

from datetime import date

import pytest
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.models import Hold, Purchase, Refund
from partners.models import Statement
from tests.conftest import api_client_for
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank_partner(operator):
    return PartnerFactory(code="bank", name="Bank")


@pytest.fixture
def bank(bank_partner):
    return api_client_for(bank_partner)


@pytest.fixture
def cinema(operator):
    return api_client_for(PartnerFactory(code="cinema", name="Cinema"))


@pytest.fixture
def banks_objects(bank, card, program):
    points_adjust(member=card.member, points=500, reason="balance")
    purchase = bank.post(
        "/api/v1/purchases/",
        {"card": card.number, "receipt_id": "B-1", "amount": "1000.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same-key",
    ).json()
    hold = bank.post(
        "/api/v1/holds/",
        {"card": card.number, "points": 100},
        format="json",
        HTTP_IDEMPOTENCY_KEY="hold-key",
    ).json()
    return purchase["id"], hold["id"]


@pytest.fixture
def banks_statement(bank_partner):
    return Statement.objects.create(
        partner=bank_partner, month=date(2026, 1, 1), computed_at=timezone.now()
    ).pk


def test_every_object_id_of_another_partner_is_not_found(cinema, banks_objects):
    purchase_id, hold_id = banks_objects
    calls = [
        cinema.get(f"/api/v1/purchases/{purchase_id}/"),
        cinema.post(
            f"/api/v1/purchases/{purchase_id}/refunds/",
            {"amount": "100.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="r-1",
        ),
        cinema.post(f"/api/v1/holds/{hold_id}/capture/"),
        cinema.post(f"/api/v1/holds/{hold_id}/void/"),
    ]
    assert [response.status_code for response in calls] == [404, 404, 404, 404]
    assert not Refund.objects.exists()
    assert Hold.objects.get().status == "held"


def test_another_partners_statements_are_not_found_nor_listed(cinema, banks_statement):
    for suffix in ("", "csv/", "pdf/"):
        response = cinema.get(f"/api/v1/settlements/{banks_statement}/{suffix}")
        assert response.status_code == 404, suffix
    assert cinema.get("/api/v1/settlements/").json() == []


def test_the_same_idempotency_key_of_another_partner_replays_nothing(cinema, card, banks_objects):
    response = cinema.post(
        "/api/v1/purchases/",
        {"card": card.number, "receipt_id": "C-1", "amount": "300.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same-key",
    )
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Purchase.objects.count() == 2


def test_the_owner_still_reaches_its_objects(bank, banks_objects):
    purchase_id, hold_id = banks_objects
    assert bank.get(f"/api/v1/purchases/{purchase_id}/").status_code == 200
    assert bank.post(f"/api/v1/holds/{hold_id}/capture/").status_code == 200


def test_the_owner_still_reaches_its_statements(bank, banks_statement):
    for suffix in ("", "csv/", "pdf/"):
        assert bank.get(f"/api/v1/settlements/{banks_statement}/{suffix}").status_code == 200


def test_an_outlet_key_replaying_another_outlets_receipt_is_a_conflict(operator, card, program):
    from tests.conftest import api_client_for
    from tests.factories import OutletFactory

    north = api_client_for(operator, outlet=OutletFactory(partner=operator, code="n"))
    south = api_client_for(operator, outlet=OutletFactory(partner=operator, code="s"))
    body = {"card": card.number, "receipt_id": "SAME-1", "amount": "100.00"}
    assert (
        north.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code
        == 201
    )
    again = south.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert (again.status_code, again.json()["error"]) == (409, "receipt_conflict")
