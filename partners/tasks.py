"""Celery tasks: thin wrappers, one service each."""

from celery import shared_task

from . import statements, webhooks

# deliver_webhook (partners.tasks.deliver_webhook) is defined in partners.webhooks, which
# queues it; importing that module registers it.


@shared_task
def send_due_webhooks() -> int:
    return webhooks.webhooks_due_send()


@shared_task
def settle_partners() -> int:
    return statements.statements_close_due()
