import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from loyalty import tasks
from loyalty.answers import purchase_record_answer
from loyalty.jobs import idempotency_keys_purge, lots_expire_due, pending_release_due
from loyalty.ledger import Kind, ledger_breaches
from loyalty.models import Account, IdempotencyRecord, Lot, Transfer
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from tests.factories import CardFactory, PartnerFactory
from tests.threads import run_together


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


@pytest.mark.django_db
def test_pending_points_are_released_after_the_return_window(card, program, ledger_consistent):
    bought_at = timezone.now() - timedelta(days=20)
    buy(card, "1500", now=bought_at)
    assert pending_release_due(now=bought_at + timedelta(days=13)) == 0
    assert balance(card.member, Kind.PENDING) == 15
    assert pending_release_due(now=bought_at + timedelta(days=14)) == 15
    assert (balance(card.member, Kind.PENDING), balance(card.member, Kind.AVAILABLE)) == (0, 15)


@pytest.mark.django_db
def test_release_runs_once_even_if_the_job_repeats(card, program, ledger_consistent):
    bought_at = timezone.now() - timedelta(days=20)
    buy(card, "1500", now=bought_at)
    pending_release_due(now=timezone.now())
    assert pending_release_due(now=timezone.now()) == 0
    assert Transfer.objects.filter(code="release").count() == 1


@pytest.mark.django_db
def test_points_expire_months_after_they_were_earned(card, program, ledger_consistent):
    bought_at = timezone.now().replace(year=2025, month=1, day=31)
    buy(card, "700", now=bought_at)
    pending_release_due(now=bought_at + timedelta(days=14))
    assert lots_expire_due(now=bought_at.replace(year=2026, month=1, day=30)) == 0
    assert lots_expire_due(now=bought_at.replace(year=2026, month=1, day=31)) == 7
    assert balance(card.member, Kind.AVAILABLE) == 0
    assert Transfer.objects.get(code="expiry").credit_account.kind == Kind.EXPIRED


@pytest.mark.django_db
def test_expiry_takes_only_the_lots_due(card, program, ledger_consistent):
    first = timezone.now() - timedelta(days=400)
    buy(card, "300", now=first)
    buy(card, "500", now=first + timedelta(days=60))
    pending_release_due(now=timezone.now())
    assert lots_expire_due(now=first + timedelta(days=370)) == 3
    assert balance(card.member, Kind.AVAILABLE) == 5


@pytest.mark.django_db
def test_expiry_never_when_the_policy_is_zero_months(card, program, ledger_consistent):
    program_settings_update(expiry_months=0, pending_days=0)
    buy(card, "900", now=timezone.now() - timedelta(days=3000))
    assert lots_expire_due(now=timezone.now()) == 0
    assert balance(card.member, Kind.AVAILABLE) == 9


@pytest.mark.django_db
def test_celery_tasks_wrap_the_services(card, program):
    buy(card, "1500", now=timezone.now() - timedelta(days=30))
    assert tasks.release_due_pending_points.delay().get() == 15
    assert tasks.expire_due_lots.delay().get() == 0


@pytest.mark.django_db
def test_run_job_command_runs_a_job_by_name(card, program, capsys):
    buy(card, "1500", now=timezone.now() - timedelta(days=30))
    call_command("run_job", "release_pending")
    assert capsys.readouterr().out.strip() == "release_pending: 15 pending points released"
    assert balance(card.member, Kind.AVAILABLE) == 15


@pytest.mark.django_db
def test_run_job_refuses_an_unknown_job(db):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("run_job", "nope")


@pytest.mark.django_db
def test_release_in_small_batches_releases_every_due_lot_once(operator, program, ledger_consistent):
    cards = [CardFactory(partner=operator) for _ in range(5)]
    bought_at = timezone.now() - timedelta(days=30)
    for card in cards:
        buy(card, "1000", now=bought_at)
        buy(card, "500", now=bought_at)
        buy(card, "300", now=timezone.now())  # still in its return window
    assert pending_release_due(now=timezone.now(), batch_size=3) == 5 * 15
    assert pending_release_due(now=timezone.now(), batch_size=3) == 0
    assert [balance(c.member, Kind.AVAILABLE) for c in cards] == [15] * 5
    assert [balance(c.member, Kind.PENDING) for c in cards] == [3] * 5


@pytest.mark.django_db
def test_released_points_keep_the_expiry_they_were_earned_with(card, program):
    bought_at = timezone.now() - timedelta(days=30)
    buy(card, "1000", now=bought_at)
    pending_release_due(now=timezone.now())
    lot = Lot.objects.get(account__kind=Kind.AVAILABLE)
    assert lot.expires_at.date() == bought_at.replace(year=bought_at.year + 1).date()
    assert lot.transfer.purchase.receipt_id is not None


@pytest.mark.django_db(transaction=True)
def test_two_release_runs_at_once_release_each_lot_once():
    operator = PartnerFactory(code="main")
    program_settings_update(pending_days=14)
    cards = [CardFactory(partner=operator) for _ in range(30)]
    for card in cards:
        buy(card, "2000", now=timezone.now() - timedelta(days=20))
    results = run_together(2, lambda _i: pending_release_due(batch_size=4))
    assert sum(results) == 30 * 20
    assert Transfer.objects.filter(code="release").count() == 30
    assert not ledger_breaches()


@pytest.mark.django_db
def test_old_idempotency_keys_are_purged_and_recent_ones_kept(card, program, capsys):
    old = timezone.now() - timedelta(days=45)
    for key in ("old-1", "old-2", "new"):
        purchase_record_answer(
            partner=card.partner,
            outlet=None,
            key=key,
            card_number=card.number,
            receipt_id=key,
            amount=Decimal(100),
            items=[],
            redeem_points=0,
        )
    IdempotencyRecord.objects.filter(key__startswith="old").update(created_at=old)
    assert idempotency_keys_purge(keep_days=30, batch_size=1) == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    call_command("run_job", "purge_idempotency_keys")
    assert "purge_idempotency_keys: 0 old idempotency keys deleted" in capsys.readouterr().out


def test_every_scheduled_task_is_registered():
    from config.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
