"""A real Celery worker, fed through Redis, runs a ledger job against the test database."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from loyalty.ledger import Kind
from loyalty.models import Account
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from loyalty.tasks import release_due_pending_points
from tests.factories import CardFactory, PartnerFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_worker_process():
    """Start a worker on the test broker and stop running tasks eagerly in this process."""
    queue = celery_app.conf.task_default_queue
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    celery_app.conf.task_always_eager = False
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        celery_app.conf.task_always_eager = True


def _pending(member) -> int:
    return Account.objects.get(member=member, kind=Kind.PENDING).balance


def _wait_until(predicate, timeout=45.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_worker_runs_a_task_queued_on_commit_and_not_one_rolled_back(celery_worker_process):
    program_settings_update(pending_days=14)
    card = CardFactory(partner=PartnerFactory(code="main"))
    purchase_record(
        partner=card.partner,
        card_number=card.number,
        receipt_id="R-1",
        amount=Decimal("2000"),
        now=timezone.now() - timedelta(days=20),
    )
    with transaction.atomic():
        release_due_pending_points.delay_on_commit()
        transaction.set_rollback(True)
    time.sleep(3)  # a rolled-back transaction queues nothing: points stay pending
    assert _pending(card.member) == 20
    with transaction.atomic():
        release_due_pending_points.delay_on_commit()
    assert _wait_until(lambda: _pending(card.member) == 0), "the worker did not release the points"
    assert Account.objects.get(member=card.member, kind=Kind.AVAILABLE).balance == 20
    assert celery_worker_process.poll() is None
