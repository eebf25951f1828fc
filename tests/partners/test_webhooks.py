"""Webhooks: events recorded with the work, signed per Standard Webhooks, retried."""

import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.answers import hold_answer
from loyalty.holds import hold_create, holds_expire_due
from loyalty.models import Tier, TierLadder
from loyalty.services.purchases import purchase_record
from partners.models import WebhookDelivery, WebhookEndpoint
from partners.webhooks import (
    RETRY_DELAYS,
    webhook_deliver,
    webhook_secret_new,
    webhook_signature,
    webhooks_due_send,
)
from tests.factories import PartnerFactory
from tests.partners.test_webhook_urls import PUBLIC_V4, dns_answers

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP(S) server that records requests and answers the given statuses.

    With `tls` it speaks HTTPS and records the name each client asked for (SNI).
    """

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests = []
        self.paths = []
        self.statuses = []
        self.server_names = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append((headers, body))
                receiver.paths.append(self.path)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"{receiver.url}/followed")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
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


def test_tier_moves_go_to_the_partners_whose_cards_the_member_holds(
    operator, card, program, receiver
):
    bank = PartnerFactory(code="bank", name="Bank")
    for partner in (operator, bank):
        WebhookEndpoint.objects.create(
            partner=partner, url=receiver.url, events=["tier.changed"], secret=webhook_secret_new()
        )
    ladder = TierLadder.objects.create(name="Status", window="calendar_month")
    vip = Tier.objects.create(ladder=ladder, name="VIP", rank=1, min_spend=1000)
    buy(operator, card, amount=1500)
    # The bank issued none of this member's cards: it is not told their card number.
    delivery = WebhookDelivery.objects.get(event="tier.changed")
    assert delivery.endpoint.partner == operator
    data = delivery.payload["data"]
    assert (data["card"], data["to_tier"], data["from_tier"]) == (card.number, vip.pk, None)


def test_a_hold_that_ran_out_is_reported_to_its_partner(operator, card, program, receiver):
    WebhookEndpoint.objects.create(
        partner=operator, url=receiver.url, events=["hold.expired"], secret=webhook_secret_new()
    )
    points_adjust(member=card.member, points=50, reason="balance")
    hold = hold_answer(
        hold_create(partner=operator, card_number=card.number, points=30, minutes=1)
    ).body
    holds_expire_due(now=timezone.now() + timedelta(minutes=2))
    delivery = WebhookDelivery.objects.get(event="hold.expired")
    assert (delivery.payload["data"]["hold"], delivery.payload["data"]["points"]) == (
        hold["id"],
        30,
    )


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    operator, card, program, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.statuses = [302]
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    delivery = WebhookDelivery.objects.get()
    attempt = delivery.attempt_log.get()
    assert (attempt.status_code, attempt.error) == (
        302,
        "The endpoint answered with a redirect, which is not followed.",
    )
    assert (delivery.status, receiver.paths) == ("pending", ["/hooks"])


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


HOOKS_HOST = "hooks.partner.example"


class Connections(list):
    """TCP connections webhooks opened, as (address, port); each really goes to `target`."""

    target = ("127.0.0.1", 9)  # nothing listens there


@pytest.fixture
def connections(monkeypatch):
    opened = Connections()
    real_create_connection = socket.create_connection

    def create_connection(address, *args, **kwargs):
        opened.append(address)
        return real_create_connection(opened.target, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return opened


@pytest.fixture
def dns(monkeypatch):
    """DNS as the test sets it: the partner's name is public until a test says otherwise."""
    answers = {HOOKS_HOST: [PUBLIC_V4]}
    return SimpleNamespace(answers=answers, asked=dns_answers(monkeypatch, answers))


@pytest.fixture
def public_endpoint(operator, dns):
    endpoint = WebhookEndpoint(
        partner=operator,
        url=f"https://{HOOKS_HOST}/events?source=loyalty",
        events=["points.earned"],
        secret=webhook_secret_new(),
    )
    endpoint.full_clean()
    endpoint.save()
    dns.asked.clear()
    return endpoint


def test_a_name_that_now_resolves_to_loopback_is_refused_at_send_and_nothing_connects(
    operator, card, program, dns, public_endpoint, connections, django_capture_on_commit_callbacks
):
    dns.answers[HOOKS_HOST] = ["127.0.0.1"]  # DNS rebinding, after the URL was validated
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    delivery = WebhookDelivery.objects.get()
    attempt = delivery.attempt_log.get()
    assert (attempt.status_code, attempt.error) == (
        None,
        f"{HOOKS_HOST} resolves to 127.0.0.1, which is not a public internet address.",
    )
    assert (delivery.status, delivery.next_attempt_at) == (
        "pending",
        attempt.attempted_at + RETRY_DELAYS[0],
    )
    assert connections == []


def test_an_endpoint_saved_before_the_checks_is_refused_at_send(
    operator, card, program, connections
):
    WebhookEndpoint.objects.create(
        partner=operator,
        url="https://169.254.169.254/latest/meta-data/",
        events=["points.earned"],
        secret=webhook_secret_new(),
    )
    buy(operator, card)
    webhooks_due_send()
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.error == "169.254.169.254 is not a public internet address."
    assert connections == []


@pytest.fixture
def https_receiver_for(tmp_path, monkeypatch, connections):
    """Starts an HTTPS receiver with a certificate for the name given, issued by a CA
    trusted like a real one; the connections opened to the partner's address reach it."""
    receivers = []

    def start(certificate_name):
        ca_file, cert_file, key_file = certificate_files(tmp_path, certificate_name)
        # OpenSSL reads the default trust store's location from here when a context loads it.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_file, key_file)
        receivers.append(Receiver(tls=tls))
        connections.target = ("127.0.0.1", receivers[-1].port)
        return receivers[-1]

    yield start
    for receiver in receivers:
        receiver.server.shutdown()


def test_a_send_connects_to_the_checked_address_with_the_name_for_tls_and_host(
    operator,
    card,
    program,
    dns,
    public_endpoint,
    https_receiver_for,
    connections,
    django_capture_on_commit_callbacks,
):
    receiver = https_receiver_for(HOOKS_HOST)
    with django_capture_on_commit_callbacks(execute=True):
        buy(operator, card)
    assert WebhookDelivery.objects.get().status == "delivered"
    assert connections == [(PUBLIC_V4, 443)]
    assert dns.asked == [HOOKS_HOST]  # resolved once, then that address is used
    headers, _body = receiver.requests[0]
    assert (headers["host"], receiver.server_names) == (HOOKS_HOST, [HOOKS_HOST])
    assert receiver.paths == ["/events?source=loyalty"]


def test_a_certificate_for_another_name_fails_the_attempt(
    operator, card, program, public_endpoint, https_receiver_for, connections
):
    receiver = https_receiver_for("other.example")
    buy(operator, card)
    webhooks_due_send()
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.status_code is None
    assert "certificate verify failed" in attempt.error
    assert (connections, receiver.requests) == ([(PUBLIC_V4, 443)], [])


def certificate_files(directory, hostname):
    """A throwaway certificate authority (its PEM file) and a server certificate and key."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca = (
        _certificate_builder(ca_name, ca_name, ca_key, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    server = (
        _certificate_builder(server_name, ca_name, key, now)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _certificate_builder(subject, issuer, key, now):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
