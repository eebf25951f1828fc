"""The paid club: join and renew through the API, benefits at the till, expiry by the job."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.club import club_join, club_memberships_expire
from loyalty.models import ClubMembership, ClubPlan, MemberTier, Tier, TierChange, TierLadder
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def club(db):
    ladder = TierLadder.objects.create(name="Club", window=TierLadder.Window.CLUB)
    member_tier = Tier.objects.create(
        ladder=ladder, name="Club member", rank=1, discount_percent=Decimal("7"), free_delivery=True
    )
    family = Tier.objects.create(ladder=ladder, name="Family", rank=2, discount_percent=10)
    monthly = ClubPlan.objects.create(name="Monthly", tier=member_tier, fee=299, validity_days=30)
    ClubPlan.objects.create(name="Family year", tier=family, fee=2990, validity_days=365)
    return monthly


def join(pos, card, plan_id, key="k-1"):
    return pos.post(
        "/api/v1/club/memberships/",
        {"card": card.number, "plan": plan_id},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_joining_gives_the_club_tier_benefits_at_the_till(pos, card, program, club):
    plans = pos.get("/api/v1/club/plans/").json()
    assert [(p["name"], p["fee"], p["validity_days"]) for p in plans] == [
        ("Family year", "2990.00", 365),
        ("Monthly", "299.00", 30),
    ]
    response = join(pos, card, club.pk)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["plan_name"], body["tier"], body["fee"]) == ("Monthly", "Club member", "299.00")
    status = pos.get("/api/v1/members/lookup/", {"card": card.number}).json()["status"]
    assert status["discount_percent"] == "7.00"
    assert status["free_delivery"] is True


def test_a_retried_join_is_one_membership(pos, card, program, club):
    first = join(pos, card, club.pk)
    again = join(pos, card, club.pk)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ClubMembership.objects.count() == 1


def test_renewing_extends_from_the_current_end(pos, card, program, club):
    first = join(pos, card, club.pk, key="a").json()
    second = join(pos, card, club.pk, key="b").json()
    assert second["starts_at"] == first["ends_at"]
    row = MemberTier.objects.get(member=card.member)
    assert row.valid_until.isoformat() == second["ends_at"]


def test_another_plan_waits_for_the_current_one(pos, card, program, club):
    join(pos, card, club.pk, key="a")
    family = ClubPlan.objects.get(name="Family year")
    response = join(pos, card, family.pk, key="b")
    assert response.status_code == 409
    assert "another plan" in response.json()["detail"]


@pytest.mark.parametrize("plan_id", [999999, "closed"])
def test_unknown_and_closed_plans_are_refused(pos, card, program, club, plan_id):
    if plan_id == "closed":
        ClubPlan.objects.filter(pk=club.pk).update(is_active=False)
        plan_id = club.pk
    response = join(pos, card, plan_id)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["plan"]
    assert not ClubMembership.objects.exists()


def test_memberships_expire_once_by_the_job(card, program, club):
    start = timezone.now() - timedelta(days=40)
    club_join(member_id=card.member_id, plan=club, now=start)
    still_paid = CardFactory(partner=card.partner)
    club_join(member_id=still_paid.member_id, plan=club)
    assert club_memberships_expire() == 1
    assert club_memberships_expire() == 0
    assert list(MemberTier.objects.values_list("member_id", flat=True)) == [still_paid.member_id]
    assert TierChange.objects.filter(reason="club_expired", member=card.member).count() == 1


def test_rejoining_after_expiry_starts_now(card, program, club):
    club_join(member_id=card.member_id, plan=club, now=timezone.now() - timedelta(days=40))
    club_memberships_expire()
    again = club_join(member_id=card.member_id, plan=club)
    assert again.starts_at > timezone.now() - timedelta(minutes=1)


def test_run_job_expires_club_memberships(db, capsys):
    call_command("run_job", "expire_club")
    assert "expire_club: 0 club memberships ended" in capsys.readouterr().out
