from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
APPS = ["config", "loyalty", "members", "partners", "rewards", "web"]
KEYWORDS = {"_": None, "gettext": None, "gettext_lazy": None, "pgettext": (1, 2)}


def source_messages() -> set[str]:
    """Every translatable string in the project's Python code, read straight from the source."""
    found = set()
    for app in APPS:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / app, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            if isinstance(message, str) and message:
                found.add(message)
    return found


@pytest.mark.parametrize("language", ["ru", "pl"])
def test_every_message_in_the_code_is_translated(language):
    catalog = read_po((LOCALE / language / "LC_MESSAGES" / "django.po").open("rb"))
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    assert sorted(source_messages() - translated) == []


def _translated(message) -> bool:
    if isinstance(message.string, tuple):  # plural forms: every one filled in
        return all(message.string)
    return bool(message.string)


@pytest.mark.parametrize("language", ["ru", "pl"])
def test_the_catalog_has_no_empty_or_fuzzy_entry(language):
    """Template strings included: what makemessages collected is all translated."""
    catalog = read_po((LOCALE / language / "LC_MESSAGES" / "django.po").open("rb"))
    unfinished = [m.id for m in catalog if m.id and (m.fuzzy or not _translated(m))]
    assert unfinished == []


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
    assert response.json()["detail"] == "У участника нет 5 доступных баллов."  # noqa: RUF001
