"""Celery tasks of members: thin wrappers, one service each."""

from celery import shared_task

from .imports import jobs


@shared_task
def card_import_check_task(import_id: int) -> None:
    jobs.card_import_check(import_id)


@shared_task
def card_import_run_task(import_id: int) -> None:
    jobs.card_import_run(import_id)
