"""Cohorts: retention and lifetime value by the month members joined."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.models import CohortMonth
from loyalty.reports import cohort_table, cohorts_refresh
from loyalty.services.purchases import purchase_record
from members.models import Member
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ZONE = timezone.get_default_timezone()


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZONE)


def member_joined(operator, day: date):
    card = CardFactory(partner=operator)
    Member.objects.filter(pk=card.member_id).update(created_at=at(day))
    return card


def buy(operator, card, day: date, amount: str) -> None:
    purchase_record(
        partner=operator,
        card_number=card.number,
        receipt_id=f"{card.pk}-{day}",
        amount=Decimal(amount),
        now=at(day),
    )


@pytest.fixture
def cohorts(operator, program):
    """September: four members; two buy in September, one comes back in October."""
    september = [member_joined(operator, date(2026, 9, day)) for day in (1, 5, 9, 20)]
    buy(operator, september[0], date(2026, 9, 2), "1000")
    buy(operator, september[1], date(2026, 9, 6), "600")
    buy(operator, september[0], date(2026, 10, 3), "400")
    october = member_joined(operator, date(2026, 10, 10))
    buy(operator, october, date(2026, 10, 11), "200")
    return cohorts_refresh()


def test_retention_and_lifetime_value_per_cohort(cohorts):
    assert cohorts == 3  # (Sep, Sep), (Sep, Oct), (Oct, Oct)
    september, october = cohort_table(
        date(2026, 9, 1), date(2026, 10, 31), today=date(2026, 11, 23)
    )
    assert (september.cohort, september.size) == (date(2026, 9, 1), 4)
    assert september.retention[:4] == [0.5, 0.25, 0.0, None]  # M3 (December) is to come
    assert september.lifetime_value[:3] == [Decimal("400.00"), Decimal("500.00"), Decimal("500.00")]
    assert (october.size, october.retention[0], october.retention[2]) == (1, 1.0, None)


def test_the_rollup_is_rebuilt_not_added_to(cohorts):
    cohorts_refresh()
    assert CohortMonth.objects.count() == 3


def test_the_cohorts_page_and_its_export(client, cohorts):
    client.force_login(User.objects.create_superuser("root", password="pw-test-only"))
    url = reverse("admin:loyalty_cohortmonth_changelist")
    period = {"start": "2026-09-01", "end": "2026-10-31"}
    html = client.get(url, period).content.decode()
    assert "2026-09" in html
    assert "50%" in html
    csv = client.get(url, {**period, "export": "csv"})
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Cohort,Members,Retention M0")
    assert lines[1].startswith("2026-09,4,0.5,0.25,")
