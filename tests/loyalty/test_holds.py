"""Partner holds: reserve points, then capture or void them, exactly once."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.holds import holds_expire_due
from loyalty.ledger import Code, ledger_breaches
from loyalty.models import Hold, Lot, Transfer
from tests.balances import available_points
from tests.conftest import api_client_for
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(card, program):
    """100 points earned a year ago (expiring sooner) and 100 today."""
    points_adjust(
        member=card.member, points=100, reason="old", now=timezone.now() - timedelta(days=300)
    )
    points_adjust(member=card.member, points=100, reason="new")
    return card


@pytest.fixture
def cinema(operator):
    return api_client_for(PartnerFactory(code="cinema", name="Cinema"))


def hold(client, card, points=150, key="h-1", **extra):
    return client.post(
        "/api/v1/holds/",
        {"card": card.number, "points": points, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def expiries(card):
    return sorted(
        (lot.expires_at.date(), lot.remaining)
        for lot in Lot.objects.filter(account__member=card.member, remaining__gt=0)
    )


def test_a_hold_reserves_points_and_a_capture_spends_them(cinema, funded):
    created = hold(cinema, funded, reference="ticket 42")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["points"], body["balance"]["available"]) == ("held", 150, 50)
    captured = cinema.post(f"/api/v1/holds/{body['id']}/capture/")
    assert captured.json()["status"] == "captured"
    assert available_points(funded.member) == 50
    assert Transfer.objects.filter(code=Code.PARTNER_BURN, amount=150).count() == 1
    assert not ledger_breaches()


def test_a_void_gives_the_points_back_with_their_expiry_dates(cinema, funded):
    before = expiries(funded)
    body = hold(cinema, funded).json()
    voided = cinema.post(f"/api/v1/holds/{body['id']}/void/")
    assert voided.json()["status"] == "voided"
    assert available_points(funded.member) == 200
    assert [(day, sum(p for d, p in expiries(funded) if d == day)) for day, _ in before] == before
    assert not ledger_breaches()


def test_a_repeated_capture_answers_the_same_and_a_void_after_it_is_refused(cinema, funded):
    hold_id = hold(cinema, funded).json()["id"]
    first = cinema.post(f"/api/v1/holds/{hold_id}/capture/")
    again = cinema.post(f"/api/v1/holds/{hold_id}/capture/")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["resolved_at"] == first.json()["resolved_at"]
    refused = cinema.post(f"/api/v1/holds/{hold_id}/void/")
    assert refused.status_code == 409
    assert Transfer.objects.filter(code=Code.PARTNER_BURN).count() == 1


def test_a_retried_hold_is_one_hold(cinema, funded):
    first = hold(cinema, funded)
    again = hold(cinema, funded)
    assert again.json()["id"] == first.json()["id"]
    assert Hold.objects.count() == 1


def test_more_than_the_balance_cannot_be_held(cinema, funded):
    response = hold(cinema, funded, points=201)
    assert response.status_code == 409
    assert response.json()["error"] == "insufficient_points"
    assert available_points(funded.member) == 200


def test_an_expired_hold_is_given_back_by_the_job_and_cannot_be_captured(cinema, funded):
    body = hold(cinema, funded, minutes=5).json()
    later = timezone.now() + timedelta(minutes=6)
    assert holds_expire_due(now=later) == 1
    assert holds_expire_due(now=later) == 0
    assert Hold.objects.get().status == "expired"
    assert available_points(funded.member) == 200
    refused = cinema.post(f"/api/v1/holds/{body['id']}/capture/")
    assert refused.status_code == 409
    assert "expired" in refused.json()["detail"]
    assert not ledger_breaches()


def test_a_hold_past_its_time_is_not_captured_before_the_job_runs(cinema, funded):
    body = hold(cinema, funded, minutes=1).json()
    Hold.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert cinema.post(f"/api/v1/holds/{body['id']}/capture/").status_code == 409


def test_another_partners_hold_is_not_found(cinema, pos, funded):
    hold_id = hold(cinema, funded).json()["id"]
    for action in ("capture", "void"):
        response = pos.post(f"/api/v1/holds/{hold_id}/{action}/")
        assert response.status_code == 404
    assert Hold.objects.get().status == "held"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"points": 0}, "points"), ({"minutes": 100_000}, "minutes")],
)
def test_bad_holds_are_refused_on_their_field(cinema, funded, fields, field):
    response = hold(cinema, funded, **fields)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_the_job_runs_by_name(cinema, funded, capsys):
    hold(cinema, funded, minutes=1)
    Hold.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("run_job", "expire_holds")
    assert "expire_holds: 1 partner holds released" in capsys.readouterr().out
