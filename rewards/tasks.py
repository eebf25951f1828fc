"""Celery tasks: thin wrappers, one service each."""

from celery import shared_task

from . import services


@shared_task
def expire_vouchers() -> int:
    return services.vouchers_expire_due()
