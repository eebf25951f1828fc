"""Celery tasks: thin wrappers, one service each."""

from celery import shared_task
from django.conf import settings

from . import jobs


@shared_task
def release_due_pending_points() -> int:
    return jobs.pending_release_due()


@shared_task
def expire_due_lots() -> int:
    return jobs.lots_expire_due_parallel(workers=settings.LEDGER_JOB_WORKERS)
