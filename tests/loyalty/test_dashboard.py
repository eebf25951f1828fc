"""The dashboard: daily figures from the ledger and purchases, summed for a period."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.jobs import lots_expire_due
from loyalty.models import DailyFigures
from loyalty.program import program_settings_update
from loyalty.reports import daily_figures_backfill, daily_figures_refresh, dashboard
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from rewards.models import Reward
from rewards.services import reward_redeem
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ZONE = timezone.get_default_timezone()
NOV_2 = date(2026, 11, 2)
NOV_3 = date(2026, 11, 3)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZONE).replace(hour=hour)


@pytest.fixture
def history(operator):
    """Two days of a small program: purchases, a refund, a reward, an expiry."""
    program_settings_update(
        pending_days=0, expiry_months=1, earn_points=1, earn_amount=100, max_redeem_share="1"
    )
    anna, boris = CardFactory(partner=operator), CardFactory(partner=operator)
    purchase_record(
        partner=operator, card_number=anna.number, receipt_id="A1", amount=2000, now=at(NOV_2)
    )
    bought = purchase_record(
        partner=operator, card_number=boris.number, receipt_id="B1", amount=1000, now=at(NOV_2)
    )
    refund_record(
        partner=operator, purchase_id=bought.purchase.pk, amount=Decimal(500), now=at(NOV_3)
    )
    purchase_record(
        partner=operator, card_number=anna.number, receipt_id="A2", amount=500, now=at(NOV_3)
    )
    mug = Reward.objects.create(kind="gift", name_en="Mug", point_cost=15)
    reward_redeem(member_id=anna.member_id, reward_id=mug.pk, now=at(NOV_3, 14))
    points_adjust(member=boris.member, points=7, reason="old", now=at(date(2026, 10, 1)))
    lots_expire_due(now=at(NOV_3, 20))
    return anna, boris


def test_the_days_are_computed_from_the_ledger_and_purchases(history):
    assert daily_figures_refresh(NOV_2, NOV_3) == 2
    second, third = DailyFigures.objects.order_by("day")
    assert (second.purchases, second.revenue, second.buyers) == (2, Decimal("2500.00"), 2)
    assert second.points_issued == 30
    # The refund comes off its purchase's revenue; its reversal is on the day it happened.
    assert (third.purchases, third.revenue, third.points_reversed) == (1, Decimal("500.00"), 5)
    assert (third.points_issued, third.points_redeemed, third.points_expired) == (5, 15, 7)
    # Recomputing changes nothing.
    daily_figures_refresh(NOV_2, NOV_3)
    assert DailyFigures.objects.count() == 2


def test_the_dashboard_sums_the_period_and_reads_the_state_of_now(history):
    daily_figures_refresh(NOV_2, NOV_3)
    board = dashboard(NOV_2, NOV_3, today=NOV_3)
    assert board.totals["purchases"] == 3
    assert (board.points_issued_net, board.points_redeemed_net) == (30, 15)
    assert board.redemption_rate == 0.5
    assert board.breakage_rate == pytest.approx(7 / 30)
    assert board.average_receipt == Decimal("1000.00")
    assert (board.buyers, board.purchase_frequency) == (2, 1.5)
    # Anna earned 25 and spent 15; Boris kept 10 - 5 reversed; his 7 old points expired.
    assert board.liability_points == 10 + 5
    assert board.top_rewards == [("Mug", 1)]
    assert board.members_total == 2


def test_the_backfill_starts_with_the_first_member(history):
    assert daily_figures_backfill() >= 2
    assert DailyFigures.objects.filter(day=NOV_2).exists()


def marketer(client, role="Marketer"):
    user = User.objects.create_user(role.lower(), password="pw-test-only", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def test_marketers_see_the_dashboard_with_charts_and_support_does_not(client, history):
    daily_figures_refresh(NOV_2, NOV_3)
    url = reverse("admin:loyalty_dailyfigures_changelist")
    marketer(client)
    page = client.get(url, {"start": "2026-11-02", "end": "2026-11-03"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Redemption rate" in html
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert 'id="dashboard-data"' in html
    assert "cdn" not in html.lower()
    marketer(client, "Support")
    assert client.get(url).status_code == 403


def test_the_period_exports_as_csv_and_xlsx(client, history):
    daily_figures_refresh(NOV_2, NOV_3)
    marketer(client)
    url = reverse("admin:loyalty_dailyfigures_changelist")
    csv = client.get(url, {"start": "2026-11-02", "end": "2026-11-03", "export": "csv"})
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("day,new members,purchases")
    assert lines[1].startswith("2026-11-02,")
    assert len(lines) == 3
    xlsx = client.get(url, {"start": "2026-11-02", "end": "2026-11-03", "export": "xlsx"})
    assert xlsx["Content-Disposition"].endswith('dashboard-2026-11-02-2026-11-03.xlsx"')


def test_a_backwards_period_is_refused_with_a_message(client, history):
    marketer(client)
    page = client.get(
        reverse("admin:loyalty_dailyfigures_changelist"),
        {"start": "2026-11-03", "end": "2026-11-01"},
    )
    html = page.content.decode()
    assert "The end comes before the start." in html
    assert 'id="dashboard-data"' not in html


def test_the_job_keeps_a_snapshot_of_the_state_and_the_dashboard_reads_it(history):
    from loyalty.models import ProgramSnapshot
    from loyalty.reports import daily_figures_refresh_recent

    daily_figures_refresh_recent(now=at(NOV_3, 22))
    snapshot = ProgramSnapshot.objects.get(day=NOV_3)
    assert (snapshot.members, snapshot.liability_points) == (2, 15)
    ProgramSnapshot.objects.filter(pk=snapshot.pk).update(active_90=1234)  # as if counted later
    board = dashboard(NOV_2, NOV_3, today=NOV_3)
    assert board.active_90 == 1234
    assert board.state_at is not None
    assert dashboard(NOV_2, NOV_3, today=date(2026, 11, 4)).state_at is None  # no snapshot: live


def test_the_dashboard_lists_outlets_tier_moves_and_journeys(client, history, operator):
    from loyalty.models import Journey

    journey = Journey.objects.create(name="Onboarding", trigger="card_issued")
    daily_figures_refresh(NOV_2, NOV_3)
    board = dashboard(NOV_2, NOV_3, today=NOV_3)
    assert board.outlets == [("Our brand", 3, Decimal("3000.00"))]
    assert board.journeys == [(journey.pk, "Onboarding", 0, 0)]
    marketer(client)
    html = client.get(
        reverse("admin:loyalty_dailyfigures_changelist"),
        {"start": "2026-11-02", "end": "2026-11-03"},
    ).content.decode()
    assert reverse("admin:loyalty_journey_report", args=[journey.pk]) in html
    assert "Tier movement" in html
