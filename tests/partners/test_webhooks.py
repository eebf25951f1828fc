"""Webhooks: events recorded with the work, signed per Standard Webhooks, retried."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.holds import hold_create, holds_expire_due
from loyalty.models import Tier, TierLadder
from loyalty.services import points_adjust, purchase_record
from partners.models import WebhookDelivery, WebhookEndpoint
from partners.webhooks import (
    RETRY_DELAYS,
    webhook_deliver,
    webhook_secret_new,
    webhook_signature,
    webhooks_due_send,
)
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP server that records requests and answers the given statuses."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append((headers, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def local_hosts_allowed(settings):
    """The local test servers speak http on 127.0.0.1, which production refuses."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True


@pytest.fixture
def receiver(local_hosts_allowed):
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def endpoint(operator, receiver):
    return WebhookEndpoint.objects.create(
        partner=operator,
        url=receiver.url,
        events=["points.earned"],
        secret=webhook_secret_new(),
    )


def buy(operator, card, receipt="R1", amount=1250):
    return purchase_record(
        partner=operator, card_number=card.number, receipt_id=receipt, amount=amount
    )


def test_the_signature_matches_the_standard_webhooks_example():
    signature = webhook_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_purchase_is_sent_signed_after_commit(
    operator, card, program, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    headers, body = receiver.requests[0]
    payload = json.loads(body)
    assert (payload["type"], payload["data"]["points"], payload["data"]["card"]) == (
        "points.earned",
        12,
        card.number,
    )
    expected = webhook_signature(
        endpoint.secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body
    )
    assert headers["webhook-signature"] == expected
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.attempt_log.count()) == ("delivered", 1, 1)


def test_nothing_is_recorded_for_events_nobody_subscribed_to(operator, card, program, receiver):
    WebhookEndpoint.objects.create(
        partner=operator, url=receiver.url, events=["hold.expired"], secret=webhook_secret_new()
    )
    buy(operator, card)
    assert not WebhookDelivery.objects.exists()


def test_a_refused_delivery_is_retried_with_backoff_then_given_up(
    operator, card, program, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [500] * (len(RETRY_DELAYS) + 1)
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at - delivery.attempt_log.get().attempted_at == RETRY_DELAYS[0]
    assert webhook_deliver(delivery.pk) is None  # not due yet
    moment = timezone.now()
    for delay in RETRY_DELAYS:
        moment += delay + timedelta(seconds=1)
        webhook_deliver(delivery.pk, now=moment)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", len(RETRY_DELAYS) + 1)
    assert [a.status_code for a in delivery.attempt_log.all()] == [500] * (len(RETRY_DELAYS) + 1)
    assert len(receiver.requests) == len(RETRY_DELAYS) + 1
    assert len({headers["webhook-id"] for headers, _body in receiver.requests}) == 1


def test_an_unreachable_endpoint_is_recorded_and_picked_up_by_the_job(
    operator, card, program, local_hosts_allowed
):
    endpoint = WebhookEndpoint.objects.create(
        partner=operator,
        url="http://127.0.0.1:9/closed",
        events=["points.earned"],
        secret=webhook_secret_new(),
    )
    buy(operator, card)  # its task never ran (no commit here): the job picks it up
    assert webhooks_due_send() == 1
    attempt = WebhookDelivery.objects.get(endpoint=endpoint).attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error


def test_deliveries_and_their_attempts_show_in_the_admin(
    client, operator, card, program, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    delivery = WebhookDelivery.objects.get()
    page = client.get(reverse("admin:partners_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert delivery.message_id in page.content.decode()
    assert "204" in page.content.decode()


def test_an_endpoint_added_in_the_admin_gets_a_secret_and_is_used_at_once(
    client, operator, card, program, receiver
):
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    response = client.post(
        reverse("admin:partners_webhookendpoint_add"),
        {
            "partner": operator.pk,
            "url": receiver.url,
            "events": ["points.earned", "points.redeemed"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    buy(operator, card)
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event="points.earned").exists()


def test_tier_moves_go_to_every_partner_subscribed(operator, card, program, receiver):
    bank = PartnerFactory(code="bank", name="Bank")
    for partner in (operator, bank):
        WebhookEndpoint.objects.create(
            partner=partner, url=receiver.url, events=["tier.changed"], secret=webhook_secret_new()
        )
    ladder = TierLadder.objects.create(name="Status", window="calendar_month")
    vip = Tier.objects.create(ladder=ladder, name="VIP", rank=1, min_spend=1000)
    buy(operator, card, amount=1500)
    deliveries = WebhookDelivery.objects.filter(event="tier.changed")
    assert deliveries.count() == 2
    data = deliveries.first().payload["data"]
    assert (data["card"], data["to_tier"], data["from_tier"]) == (card.number, vip.pk, None)


def test_a_hold_that_ran_out_is_reported_to_its_partner(operator, card, program, receiver):
    WebhookEndpoint.objects.create(
        partner=operator, url=receiver.url, events=["hold.expired"], secret=webhook_secret_new()
    )
    points_adjust(member=card.member, points=50, reason="balance")
    hold = hold_create(partner=operator, card_number=card.number, points=30, minutes=1).body
    holds_expire_due(now=timezone.now() + timedelta(minutes=2))
    delivery = WebhookDelivery.objects.get(event="hold.expired")
    assert (delivery.payload["data"]["hold"], delivery.payload["data"]["points"]) == (
        hold["id"],
        30,
    )


def test_the_admin_refuses_the_cloud_metadata_address(client, operator):
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    response = client.post(
        reverse("admin:partners_webhookendpoint_add"),
        {
            "partner": operator.pk,
            "url": "https://169.254.169.254/latest/meta-data/",
            "events": ["points.earned"],
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "169.254.169.254 is not a public internet address." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
