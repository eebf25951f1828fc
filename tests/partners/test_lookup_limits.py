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
