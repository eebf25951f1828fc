"""Input PostgreSQL or the JSON encoder cannot take is refused with a 400, never a 500."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cards/%00/balance/",
        "/api/v1/members/lookup/?card=%00",
        "/api/v1/members/lookup/?%00=1",
    ],
)
def test_a_nul_in_an_api_url_is_a_json_400(pos, path):
    response = pos.get(path)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_a_nul_in_a_form_is_a_400(client, operator):
    response = client.post(reverse("till-login"), {"username": "kasia\x00", "password": "x"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_lone_surrogate_quoted_in_an_error_is_written_out(pos, card):
    response = pos.post(
        f"/api/v1/cards/{card.number}/replace/",
        b'{"new_card": "2000000000015", "reason": "\\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "\\ud800" in response.json()["fields"]["reason"][0]
