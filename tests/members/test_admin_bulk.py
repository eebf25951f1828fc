"""Bulk work in the admin: points for a list with a reason, blocking cards, the audit trail."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.urls import reverse

from loyalty.models import PointsAdjustment
from loyalty.program import program_settings_update
from members.models import Card
from tests.balances import available_points
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


def login(client, role: str) -> User:
    user = User.objects.create_user(role.lower(), password="pw-test-only", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def test_support_awards_points_to_a_selected_list_with_a_reason(client, operator, program):
    program_settings_update(adjustment_approval_threshold=100)
    cards = [CardFactory(partner=operator) for _ in range(3)]
    support = login(client, "Support")
    url = reverse("admin:members_member_changelist")
    selected = [card.member_id for card in cards]
    step_one = client.post(url, {"action": "points_award", "_selected_action": selected})
    assert "3 members selected" in step_one.content.decode()
    client.post(
        url,
        {
            "action": "points_award",
            "_selected_action": selected,
            "apply": "1",
            "points": "50",
            "reason": "Store anniversary",
        },
    )
    assert [available_points(card.member) for card in cards] == [50, 50, 50]
    adjustments = PointsAdjustment.objects.all()
    assert {(a.reason, a.requested_by_id, a.status) for a in adjustments} == {
        ("Store anniversary", support.pk, "applied")
    }


def test_a_bulk_award_above_the_threshold_waits_for_approval(client, operator, program):
    program_settings_update(adjustment_approval_threshold=100)
    card = CardFactory(partner=operator)
    login(client, "Support")
    response = client.post(
        reverse("admin:members_member_changelist"),
        {
            "action": "points_award",
            "_selected_action": [card.member_id],
            "apply": "1",
            "points": "500",
            "reason": "Goodwill",
        },
        follow=True,
    )
    assert "Members given the points: 0. Waiting for approval: 1." in response.content.decode()
    assert available_points(card.member) == 0


def test_marketers_cannot_award_points(client, operator, program):
    card = CardFactory(partner=operator)
    login(client, "Marketer")
    page = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert 'value="points_award"' not in page
    client.post(
        reverse("admin:members_member_changelist"),
        {
            "action": "points_award",
            "_selected_action": [card.member_id],
            "apply": "1",
            "points": "50",
            "reason": "x",
        },
    )
    assert not PointsAdjustment.objects.exists()


def test_blocking_cards_is_recorded_in_the_audit_trail(client, operator):
    cards = [CardFactory(partner=operator) for _ in range(2)]
    login(client, "Support")
    client.post(
        reverse("admin:members_card_changelist"),
        {"action": "block", "_selected_action": [card.pk for card in cards]},
    )
    assert set(Card.objects.values_list("status", flat=True)) == {"blocked"}
    assert LogEntry.objects.filter(object_id__in=[str(card.pk) for card in cards]).count() == 2

    login(client, "Administrator")
    trail = client.get(reverse("admin:admin_logentry_changelist")).content.decode()
    assert cards[0].number in trail
    login(client, "Marketer")
    assert client.get(reverse("admin:admin_logentry_changelist")).status_code == 403
