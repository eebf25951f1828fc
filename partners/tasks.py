"""Celery tasks: thin wrappers, one service each."""

from celery import shared_task

from . import statements, webhooks


@shared_task
def deliver_webhook(delivery_id: int) -> str | None:
    return webhooks.webhook_deliver(delivery_id)


@shared_task
def send_due_webhooks() -> int:
    return webhooks.webhooks_due_send()


@shared_task
def settle_partners() -> int:
    return statements.statements_close_due()
