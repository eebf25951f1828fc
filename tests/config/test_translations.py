from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parents[2] / "locale"


@pytest.mark.parametrize("language", ["ru", "pl"])
def test_every_message_is_translated(language):
    catalog = read_po((LOCALE / language / "LC_MESSAGES" / "django.po").open("rb"))
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", "Карта не найдена или не активна."),
        ("pl", "Karta nie istnieje lub jest nieaktywna."),
        ("en", "Card not found or not active."),
    ],
)
def test_api_errors_follow_accept_language(pos, language, expected):
    response = pos.get("/api/v1/cards/2000000000008/balance/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.json()["detail"] == expected


@pytest.mark.django_db
def test_formatted_messages_are_translated_with_their_numbers(pos, card, program):
    response = pos.post(
        "/api/v1/purchases/",
        {"card": card.number, "receipt_id": "R", "amount": "100", "redeem_points": 5},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
        HTTP_ACCEPT_LANGUAGE="ru",
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "Недостаточно баллов: доступно 0, запрошено 5."
