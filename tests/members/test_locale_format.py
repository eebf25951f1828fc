"""Money, points and dates as each language writes them."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from members.templatetags.locale_format import day, money, points

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "RUB\u00a012,470.58"),  # a currency code never touches the number
        ("ru", "12\u00a0470,58\u00a0₽"),
        ("pl", "12\u00a0470,58\u00a0RUB"),
    ],
)
def test_money_in_each_language(program, language, expected):
    with translation.override(language):
        assert money(Decimal("12470.58")) == expected


def test_a_negative_amount_keeps_the_space_after_the_code(program):
    with translation.override("en"):
        assert money(Decimal("-5")) == "-RUB\u00a05.00"


def test_points_and_days():
    with translation.override("pl"):
        assert points(12500) == "12\u00a0500"
        assert day(date(2026, 11, 23)) == "23 lis 2026"
