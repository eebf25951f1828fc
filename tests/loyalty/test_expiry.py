from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.jobs import lots_expire_due, lots_expire_due_parallel
from loyalty.ledger import Kind, ledger_breaches
from loyalty.models import Account, Lot, Transfer
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from tests.balances import available_points
from tests.factories import CardFactory, MemberFactory, PartnerFactory
from tests.threads import run_together


def at(month, day=1, year=2026):
    return datetime(year, month, day, 12, tzinfo=timezone.get_current_timezone())


@pytest.mark.django_db
def test_fifo_expiry_takes_what_is_left_of_the_oldest_lot(operator, ledger_consistent):
    """Lots of 100 (January) and 150 (March); redeem 120; January expires: 0 and 130 left."""
    program_settings_update(expiry_months=12, pending_days=0, max_redeem_share="1")
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=100, reason="January", now=at(1))
    points_adjust(member=card.member, points=150, reason="March", now=at(3))
    purchase_record(
        partner=operator,
        card_number=card.number,
        receipt_id="R-1",
        amount=Decimal("120"),
        redeem_points=120,
        now=at(4),
    )
    lots = Lot.objects.filter(account__member=card.member).order_by("expires_at")
    assert [lot.remaining for lot in lots] == [0, 130]
    assert lots_expire_due(now=at(1, 2, year=2027)) == 0  # January's lot was spent
    assert available_points(card.member) == 130
    assert lots_expire_due(now=at(3, 2, year=2027)) == 130
    assert available_points(card.member) == 0


@pytest.mark.django_db
def test_expiry_in_small_batches_expires_every_due_lot_once(operator, ledger_consistent):
    program_settings_update(expiry_months=1)
    members = [MemberFactory() for _ in range(7)]
    for index, member in enumerate(members):
        points_adjust(member=member, points=10 + index, reason="old", now=at(1))
        points_adjust(member=member, points=5, reason="fresh", now=at(6))
    assert lots_expire_due(now=at(3), batch_size=3) == sum(10 + i for i in range(7))
    assert lots_expire_due(now=at(3), batch_size=3) == 0
    assert [available_points(m) for m in members] == [5] * 7
    assert Transfer.objects.filter(code="expiry").count() == 7


@pytest.mark.django_db
def test_expiry_leaves_pending_points_alone(operator, program, ledger_consistent):
    card = CardFactory(partner=operator)
    purchase_record(
        partner=operator, card_number=card.number, receipt_id="R", amount=Decimal("900"), now=at(1)
    )
    assert lots_expire_due(now=at(1, year=2030)) == 0
    assert Account.objects.get(member=card.member, kind=Kind.PENDING).balance == 9


@pytest.mark.django_db(transaction=True)
def test_two_expiry_runs_at_once_expire_each_lot_once():
    PartnerFactory(code="main")
    program_settings_update(expiry_months=1)
    members = [MemberFactory() for _ in range(40)]
    for member in members:
        points_adjust(member=member, points=25, reason="old", now=at(1))
    results = run_together(2, lambda _i: lots_expire_due(now=at(3), batch_size=7))
    assert sum(results) == 40 * 25
    assert Transfer.objects.filter(code="expiry").count() == 40
    assert not ledger_breaches()


@pytest.mark.django_db
def test_windows_share_the_backlog_without_overlap(operator, ledger_consistent):
    program_settings_update(expiry_months=1)
    members = [MemberFactory() for _ in range(6)]
    for month, member in enumerate(members, start=1):
        points_adjust(member=member, points=10 * month, reason="old", now=at(month))
    first = lots_expire_due(now=at(12), window=(None, at(3)))  # January and February
    second = lots_expire_due(now=at(12), window=(at(3), at(12)))
    assert (first, second) == (10 + 20, 30 + 40 + 50 + 60)
    assert lots_expire_due(now=at(12)) == 0


@pytest.mark.django_db
def test_keyset_paging_visits_lots_expiring_at_the_same_moment(operator, ledger_consistent):
    program_settings_update(expiry_months=1)
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        points_adjust(member=member, points=3, reason="same moment", now=at(1))
    assert lots_expire_due(now=at(3), batch_size=2) == 15


@pytest.mark.django_db(transaction=True)
def test_parallel_expiry_expires_each_lot_once():
    PartnerFactory(code="main")
    program_settings_update(expiry_months=1)
    members = [MemberFactory() for _ in range(20)]
    for member in members:
        points_adjust(member=member, points=30, reason="old", now=at(1))
        points_adjust(member=member, points=7, reason="new", now=at(6))
    assert lots_expire_due_parallel(now=at(3), workers=3) == 20 * 30
    assert [available_points(m) for m in members] == [7] * 20
    assert not ledger_breaches()
