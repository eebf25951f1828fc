import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from loyalty import tasks
from loyalty.ledger import Kind
from loyalty.models import Account, Transfer
from loyalty.services import (
    lots_expire_due,
    pending_release_due,
    program_settings_update,
    purchase_record,
)

pytestmark = pytest.mark.django_db


def buy(card, amount, now):
    purchase_record(
        partner=card.partner,
        card_number=card.number,
        receipt_id=str(uuid.uuid4()),
        amount=Decimal(amount),
        now=now,
    )


def balance(member, kind):
    return Account.objects.get(member=member, kind=kind).balance


def test_pending_points_are_released_after_the_return_window(card, program, ledger_consistent):
    bought_at = timezone.now() - timedelta(days=20)
    buy(card, "1500", now=bought_at)
    assert pending_release_due(now=bought_at + timedelta(days=13)) == 0
    assert balance(card.member, Kind.PENDING) == 15
    assert pending_release_due(now=bought_at + timedelta(days=14)) == 15
    assert (balance(card.member, Kind.PENDING), balance(card.member, Kind.AVAILABLE)) == (0, 15)


def test_release_runs_once_even_if_the_job_repeats(card, program, ledger_consistent):
    bought_at = timezone.now() - timedelta(days=20)
    buy(card, "1500", now=bought_at)
    pending_release_due(now=timezone.now())
    assert pending_release_due(now=timezone.now()) == 0
    assert Transfer.objects.filter(code="release").count() == 1


def test_points_expire_months_after_they_were_earned(card, program, ledger_consistent):
    bought_at = timezone.now().replace(year=2025, month=1, day=31)
    buy(card, "700", now=bought_at)
    pending_release_due(now=bought_at + timedelta(days=14))
    assert lots_expire_due(now=bought_at.replace(year=2026, month=1, day=30)) == 0
    assert lots_expire_due(now=bought_at.replace(year=2026, month=1, day=31)) == 7
    assert balance(card.member, Kind.AVAILABLE) == 0
    assert Transfer.objects.get(code="expiry").credit_account.kind == Kind.EXPIRED


def test_expiry_takes_only_the_lots_due(card, program, ledger_consistent):
    first = timezone.now() - timedelta(days=400)
    buy(card, "300", now=first)
    buy(card, "500", now=first + timedelta(days=60))
    pending_release_due(now=timezone.now())
    assert lots_expire_due(now=first + timedelta(days=370)) == 3
    assert balance(card.member, Kind.AVAILABLE) == 5


def test_expiry_never_when_the_policy_is_zero_months(card, program, ledger_consistent):
    program_settings_update(expiry_months=0, pending_days=0)
    buy(card, "900", now=timezone.now() - timedelta(days=3000))
    assert lots_expire_due(now=timezone.now()) == 0
    assert balance(card.member, Kind.AVAILABLE) == 9


def test_celery_tasks_wrap_the_services(card, program):
    buy(card, "1500", now=timezone.now() - timedelta(days=30))
    assert tasks.release_due_pending_points.delay().get() == 15
    assert tasks.expire_due_lots.delay().get() == 0


def test_run_job_command_runs_a_job_by_name(card, program, capsys):
    buy(card, "1500", now=timezone.now() - timedelta(days=30))
    call_command("run_job", "release_pending")
    assert capsys.readouterr().out.strip() == "release_pending: 15 pending points released"
    assert balance(card.member, Kind.AVAILABLE) == 15


def test_run_job_refuses_an_unknown_job(db):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("run_job", "nope")
