import pytest
from hypothesis import given
from hypothesis import strategies as st

from members.ean import ean13_check_digit, ean13_from_serial, ean13_is_valid


@pytest.mark.parametrize("number", ["4006381333931", "5901234123457", "9780306406157"])
def test_known_valid_ean13_numbers(number):
    assert ean13_is_valid(number)


@pytest.mark.parametrize(
    "number", ["4006381333932", "400638133393", "40063813339311", "4OO6381333931", ""]
)
def test_wrong_check_digit_or_shape_is_invalid(number):
    assert not ean13_is_valid(number)


@given(st.integers(min_value=0, max_value=10**9 - 1))
def test_generated_numbers_are_valid_and_keep_their_prefix(serial):
    number = ean13_from_serial("200", serial)
    assert ean13_is_valid(number)
    assert number.startswith("200")


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(0, 9))
def test_any_single_digit_change_breaks_the_check(first12, replacement):
    number = first12 + str(ean13_check_digit(first12))
    changed = str(replacement) + number[1:]
    assert ean13_is_valid(changed) == (changed == number)


def test_serial_must_fit_the_prefix_range():
    with pytest.raises(ValueError, match="does not fit"):
        ean13_from_serial("20012345", 10**4)
