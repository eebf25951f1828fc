"""Staff pages for tiers, the club and segments: they work, refuse clearly and audit."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from loyalty.models import ClubMembership, ClubPlan, MemberTier, Tier, TierChange, TierLadder
from members.models import Segment
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("marketer", "m@example.com", "pw-test-only")
    client.force_login(user)
    return user


@pytest.fixture
def discount(db):
    ladder = TierLadder.objects.create(name="Discount", window="lifetime")
    Tier.objects.create(ladder=ladder, name="3%", rank=1, min_spend=1000, discount_percent=3)
    return ladder


def test_a_tier_floor_is_set_from_the_member_page_with_a_reason(client, staff, card, discount):
    url = reverse("admin:members_member_tier_floor", args=[card.member_id])
    assert "Set a tier floor" in client.get(url).content.decode()
    tier = Tier.objects.get()
    refused = client.post(url, {"ladder": discount.pk, "floor": tier.pk, "note": ""})
    assert refused.status_code == 200
    assert not MemberTier.objects.exists()
    response = client.post(url, {"ladder": discount.pk, "floor": tier.pk, "note": "VIP guest"})
    assert response.status_code == 302
    assert MemberTier.objects.get().floor == tier
    assert TierChange.objects.get().changed_by == staff
    member_page = client.get(reverse("admin:members_member_change", args=[card.member_id]))
    assert "Discount: 3%" in member_page.content.decode()


def test_a_ladder_with_its_tiers_is_created_in_one_form(client, staff):
    form = {
        "name": "Status",
        "window": "calendar_month",
        "grace_days": "30",
        "is_active": "on",
        "tiers-TOTAL_FORMS": "1",
        "tiers-INITIAL_FORMS": "0",
        "tiers-0-name": "VIP",
        "tiers-0-rank": "1",
        "tiers-0-min_spend": "10000.01",
        "tiers-0-both_required": "on",
        "tiers-0-earn_multiplier": "1",
        "tiers-0-discount_percent": "0",
        "tiers-0-free_delivery": "on",
    }
    response = client.post(reverse("admin:loyalty_tierladder_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Tier.objects.get().free_delivery is True


def test_a_tier_without_a_threshold_is_refused_with_a_reason(client, staff):
    form = {
        "name": "Status",
        "window": "lifetime",
        "grace_days": "0",
        "tiers-TOTAL_FORMS": "1",
        "tiers-INITIAL_FORMS": "0",
        "tiers-0-name": "Free for all",
        "tiers-0-rank": "1",
        "tiers-0-earn_multiplier": "1",
        "tiers-0-discount_percent": "0",
    }
    response = client.post(reverse("admin:loyalty_tierladder_add"), form)
    assert response.status_code == 200
    assert "Set a minimum spend" in response.content.decode()
    assert not TierLadder.objects.exists()


def test_staff_join_a_member_to_the_club_by_phone(client, staff, card, program):
    ladder = TierLadder.objects.create(name="Club", window="club")
    tier = Tier.objects.create(ladder=ladder, name="Member", rank=1, discount_percent=5)
    plan = ClubPlan.objects.create(name="Monthly", tier=tier, fee=Decimal(299), validity_days=30)
    url = reverse("admin:loyalty_clubmembership_add")
    unknown = client.post(url, {"member": "+7 999 000 00 00", "plan": plan.pk})
    assert "Card not found" in unknown.content.decode()
    response = client.post(url, {"member": card.member.phone, "plan": plan.pk})
    assert response.status_code == 302
    membership = ClubMembership.objects.get()
    assert (membership.member, membership.created_by) == (card.member, staff)


def test_selected_members_are_added_to_a_segment(client, staff, operator):
    members = [CardFactory(partner=operator).member for _ in range(3)]
    segment = Segment.objects.create(name="Students")
    changelist = reverse("admin:members_member_changelist")
    selected = [m.pk for m in members[:2]]
    form_page = client.post(changelist, {"action": "segment_add", "_selected_action": selected})
    assert "Add to a segment" in form_page.content.decode()
    client.post(
        changelist,
        {
            "action": "segment_add",
            "_selected_action": selected,
            "apply": "1",
            "segment": segment.pk,
        },
    )
    assert set(segment.members.values_list("pk", flat=True)) == set(selected)
