import pytest

from members.phones import InvalidPhone, phone_normalize


@pytest.mark.parametrize(
    "raw",
    ["8 (912) 345-67-89", "+7 912 345 67 89", "9123456789", "89123456789", "7 912 345-67-89"],
)
def test_russian_formats_normalize_to_e164(raw):
    assert phone_normalize(raw, "RU") == "+79123456789"


def test_a_foreign_number_with_country_code_is_kept():
    assert phone_normalize("+48 601 234 567", "RU") == "+48601234567"


def test_polish_local_number_in_polish_region():
    assert phone_normalize("601 234 567", "PL") == "+48601234567"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "123", "+7 000"])
def test_garbage_is_rejected(raw):
    with pytest.raises(InvalidPhone):
        phone_normalize(raw, "RU")
