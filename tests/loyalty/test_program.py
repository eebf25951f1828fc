from datetime import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from loyalty.program import points_expire_at, program_settings_update
from loyalty.services.purchases import base_points

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("settings", "paid", "points"),
    [
        ({"earn_points": 1, "earn_amount": "100"}, "1234.50", 12),
        ({"earn_points": 2, "earn_amount": "100"}, "150", 3),  # proportional, not per full 100
        ({"rounding": "half_up"}, "150", 2),
        ({"rounding": "half_up"}, "149.99", 1),
        ({"rounding": "ceiling"}, "100.01", 2),
        ({"earn_mode": "cashback", "cashback_percent": "5"}, "1000", 50),
        ({"earn_mode": "cashback", "cashback_percent": "5", "point_value": "0.1"}, "1000", 500),
        ({"earn_mode": "cashback", "cashback_percent": "3.5"}, "99.99", 3),
        ({"earn_mode": "cashback", "cashback_percent": "3.5", "rounding": "ceiling"}, "99.99", 4),
    ],
)
def test_base_points_follow_the_program_settings(settings, paid, points):
    defaults = {"earn_mode": "rate", "earn_points": 1, "earn_amount": "100", "rounding": "floor"}
    program = program_settings_update(**{**defaults, **settings})
    assert base_points(program, Decimal(paid)) == points


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("exact", datetime(2027, 2, 10, 15, 30)),
        ("month_end", datetime(2027, 2, 28, 23, 59, 59, 999999)),
        ("quarter_end", datetime(2027, 3, 31, 23, 59, 59, 999999)),
        ("year_end", datetime(2027, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_expiry_can_be_rounded_to_the_end_of_a_calendar_period(period, expected):
    zone = timezone.get_current_timezone()
    program = program_settings_update(expiry_months=12, expiry_period=period)
    earned_at = datetime(2026, 2, 10, 15, 30, tzinfo=zone)
    assert points_expire_at(program, earned_at) == expected.replace(tzinfo=zone)


def test_no_expiry_when_months_is_zero():
    program = program_settings_update(expiry_months=0, expiry_period="year_end")
    assert points_expire_at(program, timezone.now()) is None


def test_cashback_without_a_percent_is_refused_with_an_explanation():
    with pytest.raises(ValidationError) as error:
        program_settings_update(earn_mode="cashback", cashback_percent=0)
    assert "cashback_percent" in error.value.message_dict


def test_cashback_purchase_explains_the_rule(pos, card):
    program_settings_update(earn_mode="cashback", cashback_percent="5", pending_days=0)
    body = pos.post(
        "/api/v1/purchases/",
        {"card": card.number, "receipt_id": "R", "amount": "200"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    ).json()
    assert body["points_earned"] == 10
    assert body["applied_rules"] == [
        {"rule": "base", "description": "5.00% cashback", "points": 10}
    ]
