"""A partner reads its statements through the API: JSON, CSV and PDF."""

import csv
import io
import uuid
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.services.purchases import purchase_record
from partners.models import PartnerRate
from partners.statements import statements_close_due
from tests.conftest import api_client_for
from tests.factories import CardFactory, OutletFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=timezone.get_default_timezone())


@pytest.fixture
def pharmacy(operator, program):
    pharmacy = PartnerFactory(code="apteka", name="Аптека Zdrowie")
    PartnerRate.objects.create(
        partner=pharmacy, valid_from=date(2026, 1, 1), issued_price="0.25", redeemed_price="0.20"
    )
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=300, reason="start", now=at(date(2026, 1, 2)))
    for day, amount, redeem in ((date(2026, 2, 3), 4000, 100), (date(2026, 2, 20), 1200, 0)):
        purchase_record(
            partner=pharmacy,
            card_number=card.number,
            receipt_id=uuid.uuid4().hex,
            amount=Decimal(amount),
            redeem_points=redeem,
            now=at(day),
        )
    statements_close_due(now=at(date(2026, 3, 10)))
    return pharmacy


@pytest.fixture
def api(pharmacy):
    return api_client_for(pharmacy)


def test_the_list_shows_the_partners_statements_newest_first(api):
    statements = api.get("/api/v1/settlements/").json()
    assert [(s["month"], s["status"]) for s in statements] == [
        ("2026-03-01", "open"),
        ("2026-02-01", "closed"),
    ]
    february = statements[1]
    assert (february["points_issued"], february["points_redeemed"]) == (51, 100)
    assert february["due_from_partner"] == "12.75"  # 51 x 0.25
    assert february["due_to_partner"] == "20.00"  # 100 x 0.20
    assert february["net_due_from_partner"] == "-7.25"


def test_the_detail_lists_each_day(api):
    february_id = api.get("/api/v1/settlements/").json()[1]["id"]
    detail = api.get(f"/api/v1/settlements/{february_id}/").json()
    assert [
        (line["day"], line["points_issued"], line["is_correction"]) for line in detail["lines"]
    ] == [
        ("2026-02-03", 39, False),
        ("2026-02-20", 12, False),
    ]


def test_the_csv_has_a_row_per_day_and_the_total(api):
    february_id = api.get("/api/v1/settlements/").json()[1]["id"]
    response = api.get(f"/api/v1/settlements/{february_id}/csv/")
    assert response["Content-Type"] == "text/csv"
    assert 'filename="statement-apteka-2026-02.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Day", "Line", "Points issued"]
    assert [row[:3] for row in rows[1:]] == [
        ["2026-02-03", "day", "39"],
        ["2026-02-20", "day", "12"],
        ["", "total", "51"],
    ]
    assert rows[-1][-2:] == ["12.75", "20.00"]


def test_the_pdf_is_a_document_in_the_readers_language(api):
    february_id = api.get("/api/v1/settlements/").json()[1]["id"]
    for language in ("en", "ru", "pl"):
        response = api.get(f"/api/v1/settlements/{february_id}/pdf/", HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        assert response.content.rstrip().endswith(b"%%EOF")


def test_an_unknown_statement_answers_json_404_even_when_a_pdf_is_asked_for(api):
    response = api.get("/api/v1/settlements/999999/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_outlet_key_sees_no_statements(pharmacy):
    till = api_client_for(pharmacy, outlet=OutletFactory(partner=pharmacy))
    response = till.get("/api/v1/settlements/")
    assert response.status_code == 403
    assert "partner-wide key" in response.json()["detail"]


def test_without_a_key_the_answer_is_401(pharmacy, client):
    assert client.get("/api/v1/settlements/").status_code == 401
