"""Signed webhooks to partners: recorded with the event, sent after commit, retried.

An event becomes one `WebhookDelivery` per subscribed endpoint, inserted in
the transaction that caused it, so an event is never lost nor sent for work
that rolled back. Sending happens outside any transaction (no row lock is
held across the network): a delivery is claimed by a conditional update, sent
with Standard Webhooks headers, and either marked delivered or given its next
attempt time. A beat job picks up deliveries whose task was lost.

Each send checks the endpoint's URL again and resolves its host itself
(`webhook_urls`): a host that now resolves to a private address is a failed
attempt, and the connection goes to the addresses checked, never to the name
resolved a second time. Redirects are not followed.
"""

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.cache import ProcessCache

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .webhook_urls import WebhookTarget, WebhookUrlRefused, webhook_target_resolve

# Waits before each retry (Standard Webhooks' suggested schedule, shortened).
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=8),
]
TIMEOUT_SECONDS = 10


def webhook_secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def webhook_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _subscriptions_load() -> dict[tuple[int, str], list[int]]:
    subscriptions: dict[tuple[int, str], list[int]] = {}
    for pk, partner_id, events in WebhookEndpoint.objects.filter(is_active=True).values_list(
        "id", "partner_id", "events"
    ):
        for event in events:
            subscriptions.setdefault((partner_id, event), []).append(pk)
    return subscriptions


_subscriptions = ProcessCache(_subscriptions_load)


def webhook_subscriptions_cache_clear() -> None:
    _subscriptions.clear()


def webhook_event_record(
    *, partner_id: int, event: str, data: dict[str, Any], now: datetime | None = None
) -> list[int]:
    """Record `event` for the partner's subscribed endpoints; sent once the caller commits.

    Costs one cached lookup when the partner subscribes to nothing (the purchase path).
    """
    endpoint_ids = _subscriptions.get().get((partner_id, event), [])
    return _deliveries_create(endpoint_ids, event, [data], now or timezone.now())


def webhook_subscribers_exist(event: str) -> bool:
    return any(key[1] == event for key in _subscriptions.get())


def _deliveries_create(
    endpoint_ids: list[int], event: str, items: list[dict[str, Any]], now: datetime
) -> list[int]:
    if not endpoint_ids or not items:
        return []
    # The cached subscriptions may be seconds old: keep the endpoints that still exist.
    endpoint_ids = list(
        WebhookEndpoint.objects.filter(pk__in=endpoint_ids, is_active=True).values_list(
            "pk", flat=True
        )
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint_id=endpoint_id,
            message_id=f"msg_{uuid.uuid4().hex}",
            event=event,
            payload={"type": event, "timestamp": now.isoformat(), "data": data},
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint_id in endpoint_ids
        for data in items
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _queue(ids))
    return ids


def _queue(delivery_ids: Iterable[int], countdown: float = 0) -> None:
    for delivery_id in delivery_ids:
        deliver_webhook.apply_async((delivery_id,), countdown=countdown)


# The outbox's own task, beside the deliveries it sends (partners.tasks holds the jobs):
# recording an event queues it, and a module of tasks would import this one back. Its
# name is the one queues already know.
@shared_task(name="partners.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> str | None:
    return webhook_deliver(delivery_id)


def webhook_deliver(delivery_id: int, *, now: datetime | None = None) -> str | None:
    """Send one due delivery; returns its new status, or None if it was not due."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(status=WebhookDelivery.Status.SENDING)
    if not claimed:
        return None  # delivered, failed, not yet due, or another worker has it
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    status_code, error, duration_ms = _post(delivery)
    return _attempt_record(delivery, status_code, error, duration_ms, timezone.now())


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            delivery.endpoint.secret, delivery.message_id, timestamp, body
        ),
    }
    started = time.perf_counter()
    status_code, error = _send(delivery.endpoint.url, body, headers)
    return status_code, error[:300], int((time.perf_counter() - started) * 1000)


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST to the addresses the URL's host has now, if they are allowed: (status, error)."""
    try:
        target = webhook_target_resolve(url)
    except WebhookUrlRefused as refusal:
        return None, refusal.message
    connection = _connection(target)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        status_code = connection.getresponse().status
    except (OSError, http.client.HTTPException) as failure:
        return None, str(failure) or type(failure).__name__
    finally:
        connection.close()
    if 300 <= status_code < 400:
        # Following it would post wherever it points, past the checks above.
        return status_code, _("The endpoint answered with a redirect, which is not followed.")
    return status_code, ""


def _connection(target: WebhookTarget) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target)
    return _PinnedHTTPConnection(target)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain http (where allowed) to the checked addresses, with the name as Host."""

    def __init__(self, target: WebhookTarget) -> None:
        super().__init__(target.host, target.port, timeout=TIMEOUT_SECONDS)
        self.addresses = target.addresses

    def connect(self) -> None:
        self.sock = _socket_open(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked addresses: the certificate is verified for the name, sent as SNI."""

    def __init__(self, target: WebhookTarget) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=TIMEOUT_SECONDS, context=self.tls)
        self.addresses = target.addresses

    def connect(self) -> None:
        self.sock = _socket_open(self.addresses, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


def _socket_open(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """Connect to the first checked address that answers.

    Never to the name: resolving it again could give an address nobody checked.
    """
    *others, last = addresses
    for address in others:
        with contextlib.suppress(OSError):
            return socket.create_connection((address, port), timeout)
    return socket.create_connection((last, port), timeout)


def _attempt_record(
    delivery: WebhookDelivery, status_code: int | None, error: str, duration_ms: int, now: datetime
) -> str:
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
    )
    attempts = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        status, next_at = WebhookDelivery.Status.DELIVERED, None
    elif attempts > len(RETRY_DELAYS):
        status, next_at = WebhookDelivery.Status.FAILED, None
    else:
        status, next_at = WebhookDelivery.Status.PENDING, now + RETRY_DELAYS[attempts - 1]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        attempts=attempts,
        next_attempt_at=next_at,
        delivered_at=now if status == WebhookDelivery.Status.DELIVERED else None,
    )
    if next_at is not None:
        _queue([delivery.pk], countdown=(next_at - now).total_seconds())
    return status


def webhooks_due_send(
    *, now: datetime | None = None, stale_after: timedelta = timedelta(minutes=5)
) -> int:
    """Beat: send due deliveries whose task was lost, and free ones a dead worker held."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING, next_attempt_at__lte=now - stale_after
    ).update(status=WebhookDelivery.Status.PENDING)
    due = list(
        WebhookDelivery.objects.filter(
            Q(status=WebhookDelivery.Status.PENDING), next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    return sum(1 for pk in due if webhook_deliver(pk, now=now) is not None)


def webhook_deliveries_retry(delivery_ids: Iterable[int]) -> int:
    """Staff send deliveries again now: failed ones get a fresh round of retries."""
    now = timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            pk__in=list(delivery_ids),
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
        ).values_list("pk", flat=True)
    )
    WebhookDelivery.objects.filter(pk__in=ids).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=now
    )
    transaction.on_commit(lambda: _queue(ids))
    return len(ids)
