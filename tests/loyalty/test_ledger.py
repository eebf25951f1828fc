from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.exceptions import InsufficientPoints
from loyalty.ledger import (
    Code,
    Kind,
    ledger_breaches,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from loyalty.models import Account, Lot, Transfer
from tests.conftest import ledger_check_passes
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _fund(member, points, expires_in_days):
    now = timezone.now()
    with transaction.atomic():
        accounts = member_accounts_lock(member.pk)
        transfer_post(
            debit=system_account(Kind.ADJUSTMENTS),
            credit=accounts.available,
            amount=points,
            code=Code.ADJUSTMENT,
            lot_expires_at=now + timedelta(days=expires_in_days),
            now=now,
        )


def test_member_gets_available_pending_and_debt_accounts_in_lock_order(operator):
    member = MemberFactory()
    kinds = list(
        Account.objects.filter(member=member).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["available", "pending", "debt"]


def test_posting_updates_balance_and_opens_a_lot(operator, ledger_consistent):
    member = MemberFactory()
    _fund(member, 120, expires_in_days=30)
    available = Account.objects.get(member=member, kind=Kind.AVAILABLE)
    assert available.balance == 120
    assert Lot.objects.get(account=available).remaining == 120


def test_debits_consume_lots_first_to_expire_first(operator, ledger_consistent):
    member = MemberFactory()
    _fund(member, 50, expires_in_days=90)
    _fund(member, 30, expires_in_days=10)
    points_adjust(member=member, points=-40, reason="test")
    remaining = list(
        Lot.objects.filter(account__member=member)
        .order_by("expires_at")
        .values_list("remaining", flat=True)
    )
    assert remaining == [0, 40]


def test_overdraw_is_refused_and_writes_nothing(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    transfers_before = Transfer.objects.count()
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-11, reason="too much")
    assert Transfer.objects.count() == transfers_before
    assert Account.objects.get(member=member, kind=Kind.AVAILABLE).balance == 10


def test_system_accounts_are_never_materialized(operator, ledger_consistent):
    member = MemberFactory()
    _fund(member, 75, expires_in_days=30)
    assert Account.objects.get(kind=Kind.ADJUSTMENTS, member=None).balance == 0


def test_database_refuses_update_of_a_transfer(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    transfer = Transfer.objects.get()
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE loyalty_transfer SET amount = 1000 WHERE id = %s", [transfer.pk])
    transfer.refresh_from_db()
    assert transfer.amount == 10


def test_database_refuses_delete_of_a_transfer(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM loyalty_transfer")
    assert Transfer.objects.count() == 1


def test_orm_bulk_update_of_transfers_is_refused_too(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        Transfer.objects.update(amount=1)


def test_database_refuses_a_negative_member_balance(operator):
    member = MemberFactory()
    with (
        pytest.raises(IntegrityError, match="account_balance_not_negative"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE loyalty_account SET balance = -1 WHERE member_id = %s AND kind = 'available'",
            [member.pk],
        )


def test_database_refuses_a_zero_or_negative_transfer(operator):
    member = MemberFactory()
    available = Account.objects.get(member=member, kind=Kind.AVAILABLE)
    with pytest.raises(IntegrityError, match="transfer_amount_positive"), transaction.atomic():
        Transfer.objects.create(
            debit_account=system_account(Kind.ADJUSTMENTS),
            credit_account=available,
            amount=-5,
            code=Code.ADJUSTMENT,
        )


def test_ledger_check_passes_on_a_consistent_ledger(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    assert ledger_check_passes()


def test_ledger_check_reports_a_tampered_balance(operator, capsys):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    Account.objects.filter(member=member, kind=Kind.AVAILABLE).update(balance=999)
    assert not ledger_check_passes()
    output = capsys.readouterr().out
    assert "BREACH  stored member balance equals the sum of its transfers" in output
    assert "BREACH  remaining lots equal the balance" in output


def test_ledger_check_reports_a_lot_that_drifted_from_the_balance(operator):
    member = MemberFactory()
    _fund(member, 10, expires_in_days=30)
    Lot.objects.update(remaining=4)
    invariants = [b.invariant for b in ledger_breaches()]
    assert invariants == ["remaining lots equal the balance of available and pending accounts"]
