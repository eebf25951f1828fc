import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.models import MemberActivity, Purchase, Transfer
from loyalty.program import program_settings_update
from tests.conftest import api_client_for
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"


def post_purchase(client, key=None, **body):
    payload = {"card": body.pop("card"), "receipt_id": "R-1", "amount": "1234.50", **body}
    return client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def test_purchase_earns_base_points_into_pending(pos, card, program, ledger_consistent):
    response = post_purchase(pos, card=card.number)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_earned"] == 12  # 1 point per 100, rounded down
    assert body["points_redeemed"] == 0
    assert body["balance"] == {"available": 0, "pending": 12}
    assert body["applied_rules"][0]["rule"] == "base"
    card.refresh_from_db()
    assert card.status == "active"


def test_balance_endpoint_shows_pending_and_expiring(pos, card, instant_program):
    post_purchase(pos, card=card.number, amount="500")
    body = pos.get(f"/api/v1/cards/{card.number}/balance/").json()
    assert body["available"] == 5
    assert body["pending"] == 0
    assert [row["points"] for row in body["expiring"]] == [5]


def test_zero_pending_days_makes_points_available_at_once(pos, card, instant_program):
    body = post_purchase(pos, card=card.number, amount="300").json()
    assert body["balance"] == {"available": 3, "pending": 0}


def test_redeeming_pays_part_of_the_receipt_and_earns_on_the_rest(
    pos, card, program, ledger_consistent
):
    points_adjust(member=card.member, points=200, reason="welcome")
    body = post_purchase(pos, card=card.number, amount="1000", redeem_points=200).json()
    assert body["points_redeemed"] == 200
    assert body["points_earned"] == 8  # earned on the 800 paid in money
    assert body["balance"] == {"available": 0, "pending": 8}


def test_redeeming_more_than_the_max_share_is_a_field_error(pos, card, program):
    points_adjust(member=card.member, points=1000, reason="welcome")
    response = post_purchase(pos, card=card.number, amount="1000", redeem_points=501)
    assert response.status_code == 400
    assert "redeem_points" in response.json()["fields"]
    assert "500" in response.json()["detail"]


def test_redeeming_more_than_the_balance_is_409_and_writes_nothing(pos, card, program):
    points_adjust(member=card.member, points=10, reason="welcome")
    transfers = Transfer.objects.count()
    response = post_purchase(pos, card=card.number, amount="1000", redeem_points=11)
    assert response.status_code == 409
    assert response.json()["error"] == "insufficient_points"
    assert "11 points" in response.json()["detail"]
    assert "10" not in response.json()["detail"]  # a refusal never tells the balance
    assert Transfer.objects.count() == transfers
    assert not Purchase.objects.exists()


def test_minimum_balance_to_redeem_is_enforced(pos, card, program):
    program_settings_update(min_balance_to_redeem=100)
    points_adjust(member=card.member, points=50, reason="welcome")
    response = post_purchase(pos, card=card.number, amount="1000", redeem_points=10)
    assert response.status_code == 409
    assert "at least 100" in response.json()["detail"]


def test_unknown_card_is_404(pos, program):
    response = post_purchase(pos, card="2000000000008")
    assert response.status_code == 404
    assert response.json()["error"] == "card_not_found"


def test_blocked_card_answers_like_an_unknown_one(pos, operator, program):
    blocked = CardFactory(partner=operator, status="blocked")
    unknown = post_purchase(pos, card="2000000000008").json()
    assert post_purchase(pos, card=blocked.number).json() == unknown


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "abc"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"receipt_id": ""}, "receipt_id"),
        ({"redeem_points": -1}, "redeem_points"),
        ({"items": [{"sku": "A", "qty": "x", "price": "1"}]}, "items"),
        ({"items": "nope"}, "items"),
    ],
)
def test_malformed_input_is_400_with_field_errors(pos, card, program, body, field):
    response = post_purchase(pos, card=card.number, **body)
    assert response.status_code == 400
    assert any(name.split(".")[0] == field for name in response.json()["fields"])


def test_missing_body_fields_are_listed(pos, program):
    response = pos.post(URL, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert {"card", "receipt_id", "amount"} <= set(response.json()["fields"])


def test_non_json_body_is_4xx_not_500(pos, program):
    response = pos.post(URL, "{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


def test_idempotency_key_is_required(pos, card, program):
    response = pos.post(URL, {"card": card.number, "receipt_id": "R", "amount": "1"}, format="json")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]


def test_replaying_a_key_returns_the_original_response(pos, card, program):
    first = post_purchase(pos, key="key-1", card=card.number)
    points_adjust(member=card.member, points=5, reason="changes the balance in between")
    replay = post_purchase(pos, key="key-1", card=card.number)
    assert replay.status_code == first.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1


def test_same_key_with_a_different_body_is_409_and_writes_nothing(pos, card, program):
    post_purchase(pos, key="key-1", card=card.number)
    transfers = Transfer.objects.count()
    response = post_purchase(pos, key="key-1", card=card.number, amount="99.00")
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert Transfer.objects.count() == transfers


def test_amount_written_differently_is_the_same_request(pos, card, program):
    post_purchase(pos, key="key-1", card=card.number, amount="1234.50")
    assert post_purchase(pos, key="key-1", card=card.number, amount="1234.5").status_code == 201


def test_same_receipt_twice_is_one_purchase(pos, card, program, ledger_consistent):
    first = post_purchase(pos, card=card.number)
    second = post_purchase(pos, card=card.number)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Purchase.objects.count() == 1


def test_same_receipt_with_other_data_is_409(pos, card, program):
    post_purchase(pos, card=card.number)
    response = post_purchase(pos, card=card.number, amount="1.00")
    assert response.status_code == 409
    assert response.json()["error"] == "receipt_conflict"


def test_receipt_ids_are_per_partner(operator, card, program):
    other = api_client_for(PartnerFactory())
    assert post_purchase(api_client_for(operator), card=card.number).status_code == 201
    assert post_purchase(other, card=card.number).status_code == 201


def test_keys_are_scoped_per_partner(operator, card, program):
    other = api_client_for(PartnerFactory())
    assert post_purchase(api_client_for(operator), key="k", card=card.number).status_code == 201
    response = post_purchase(other, key="k", card=card.number, receipt_id="other")
    assert response.status_code == 201


def test_purchase_detail_is_visible_to_its_partner_only(operator, card, program):
    mine = api_client_for(operator)
    purchase_id = post_purchase(mine, card=card.number).json()["id"]
    assert mine.get(f"{URL}{purchase_id}/").status_code == 200
    assert api_client_for(PartnerFactory()).get(f"{URL}{purchase_id}/").status_code == 404


def test_earned_points_expire_months_after_purchase(pos, card, instant_program):
    post_purchase(pos, card=card.number, amount="100")
    expiring = pos.get(f"/api/v1/cards/{card.number}/balance/").json()["expiring"]
    expires_at = datetime.fromisoformat(expiring[0]["expires_at"])
    assert abs(expires_at - (timezone.now() + timedelta(days=365))) < timedelta(days=2)


def test_errors_inside_items_are_reported_with_dotted_paths(pos, card, program):
    items = [{"sku": "A", "qty": "1", "price": "1"}, {"sku": "B", "qty": "x", "price": "y"}]
    response = post_purchase(pos, card=card.number, items=items)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"items.1.qty", "items.1.price"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/purchases/", {"amount": "100", "redeem_points": 10**30}, "redeem_points"),
        ("/api/v1/purchases/", {"amount": "10000000000.00"}, "amount"),
        ("/api/v1/holds/", {"points": 10**30}, "points"),
    ],
)
def test_absurd_numbers_are_400_on_their_field_not_a_server_error(
    pos, card, program, path, body, field
):
    response = pos.post(
        path,
        {"card": card.number, "receipt_id": "R-huge", **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY="huge",
    )
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_the_largest_receipts_add_up_without_overflowing_the_days_spend(pos, card, program):
    for n in range(3):
        response = post_purchase(pos, card=card.number, amount="9999999999.99", receipt_id=f"B{n}")
        assert response.status_code == 201, response.json()
    assert MemberActivity.objects.get(member=card.member).spend == Decimal("29999999999.97")


def test_the_till_refuses_absurd_points_with_a_message(pos, card, program):
    from loyalty.exceptions import InvalidRequest
    from loyalty.services.purchases import purchase_record

    with pytest.raises(InvalidRequest, match="more points than anyone holds"):
        purchase_record(
            partner=card.partner,
            card_number=card.number,
            receipt_id="T1",
            amount=Decimal("100"),
            redeem_points=10**30,
        )
