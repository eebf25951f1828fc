"""Card numbers cannot be enumerated: lookups are limited per API key, and an unknown
card answers exactly like a blocked or lost one."""

import pytest

from members.ean import ean13_from_serial
from members.models import Card
from tests.conftest import api_client_for
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings):
    settings.LOOKUP_THROTTLE_RATE = "3/min"


def test_lookups_beyond_the_keys_rate_are_refused_with_a_retry_time(
    pos, operator, card, three_a_minute
):
    paths = [
        f"/api/v1/cards/{card.number}/balance/",
        f"/api/v1/members/lookup/?card={card.number}",
        "/api/v1/vouchers/ABCDEFGHJKMN/",
    ]
    statuses = [pos.get(path).status_code for path in paths]
    assert statuses == [200, 200, 404]
    refused = pos.get(f"/api/v1/cards/{card.number}/balance/")
    assert refused.status_code == 429
    assert refused.json()["error"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    other_key = api_client_for(operator)
    assert other_key.get(f"/api/v1/cards/{card.number}/balance/").status_code == 200


def test_purchases_are_not_counted_as_lookups(pos, card, program, three_a_minute):
    for receipt in range(5):
        response = pos.post(
            "/api/v1/purchases/",
            {"card": card.number, "receipt_id": f"R{receipt}", "amount": "100.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"k{receipt}",
        )
        assert response.status_code == 201


@pytest.mark.parametrize("status", [Card.Status.BLOCKED, Card.Status.LOST, Card.Status.BLANK])
def test_an_unknown_card_answers_like_an_unusable_one(pos, operator, status):
    unusable = CardFactory(partner=operator, status=status, member=None)
    unknown = ean13_from_serial("200", 987_654)
    for path in ["/api/v1/cards/{}/balance/", "/api/v1/members/lookup/?card={}"]:
        one = pos.get(path.format(unusable.number))
        other = pos.get(path.format(unknown))
        assert (one.status_code, one.json()) == (other.status_code, other.json())
        assert one.status_code == 404


def _purchase(client, number):
    return client.post(
        "/api/v1/purchases/",
        {"card": number, "receipt_id": f"R-{number}", "amount": "100.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"k-{number}",
    )


def test_writes_on_unknown_cards_spend_the_lookup_budget_and_stop_when_it_is_spent(
    pos, card, program, three_a_minute
):
    unknown = [ean13_from_serial("200", 900_000 + n) for n in range(3)]
    assert [_purchase(pos, number).status_code for number in unknown] == [404, 404, 404]
    # The budget is spent: no write naming a card says any more whether it exists.
    assert _purchase(pos, ean13_from_serial("200", 900_100)).status_code == 429
    assert _purchase(pos, card.number).status_code == 429
    hold = pos.post(
        "/api/v1/holds/",
        {"card": card.number, "points": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="h",
    )
    assert hold.status_code == 429
    assert pos.get(f"/api/v1/cards/{card.number}/balance/").status_code == 429


def test_a_refused_hold_does_not_tell_the_balance(pos, card, program):
    from loyalty.adjustments import points_adjust

    points_adjust(member=card.member, points=37, reason="balance")
    response = pos.post(
        "/api/v1/holds/",
        {"card": card.number, "points": 10**9},
        format="json",
        HTTP_IDEMPOTENCY_KEY="huge",
    )
    assert response.status_code == 409
    assert "37" not in response.json()["detail"]


def test_issuing_cards_is_a_lookup_whatever_the_answer(pos, card, three_a_minute):
    """Its answer tells an issued card from a blank one, and a card's phone: counted."""
    probes = [
        pos.post(
            "/api/v1/cards/issue/",
            {"card": number, "phone": "+79990000001", "referral_code": "ZZZZZZZZ"},
            format="json",
        ).status_code
        for number in (card.number, ean13_from_serial("200", 990_001), card.number)
    ]
    assert probes == [409, 400, 409]
    assert pos.get(f"/api/v1/cards/{card.number}/balance/").status_code == 429


def test_a_write_refused_for_too_few_points_spends_a_lookup(pos, card, program, three_a_minute):
    """Else holds of N points, refused or not, would read a balance by halving."""
    for n in range(3):
        refused = pos.post(
            "/api/v1/holds/",
            {"card": card.number, "points": 10**6},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"probe-{n}",
        )
        assert refused.status_code == 409
    assert pos.get(f"/api/v1/cards/{card.number}/balance/").status_code == 429
