import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _full_parser(raw: str, region: str) -> str | None:
    """What libphonenumber alone says (None: invalid), to check the fast path against."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    text = raw.strip()
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] in "78":
        text = "+7" + digits[1:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=500)
@given(
    national=st.from_regex(r"9[0-9]{9}", fullmatch=True),
    layout=st.sampled_from(
        ["+7 {a} {b} {c} {d}", "8 ({a}) {b}-{c}-{d}", "{a}{b}{c}{d}", "7{a}{b}{c}{d}"]
    ),
)
def test_the_fast_russian_path_agrees_with_libphonenumber(national, layout):
    raw = layout.format(a=national[:3], b=national[3:6], c=national[6:8], d=national[8:])
    try:
        ours = phone_normalize(raw, "RU")
    except InvalidPhone:
        ours = None
    assert ours == _full_parser(raw, "RU")


def test_russian_numbers_libphonenumber_refuses_are_refused():
    with pytest.raises(InvalidPhone):
        phone_normalize("+7 930 007 43 81", "RU")  # a range not in use


@pytest.mark.parametrize("raw", ["+7912345678٩", "8 (912) 345-67-8٩", "+٧٩١٢٣٤٥٦٧٨٩"])
def test_digits_of_another_script_are_the_same_phone(raw):
    """Otherwise one line would be two phones: two members, two budgets of texted codes."""
    assert phone_normalize(raw) == "+79123456789"


def test_superscript_digits_are_not_digits():
    with pytest.raises(InvalidPhone):
        phone_normalize("+7912345678²")
