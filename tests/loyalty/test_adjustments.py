"""Manual adjustments: small ones at once, large ones only with a second person's approval."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import IntegrityError
from django.urls import reverse

from loyalty.adjustments import adjustment_approve, adjustment_reject, adjustment_request
from loyalty.exceptions import Conflict, InvalidRequest
from loyalty.models import PointsAdjustment
from loyalty.program import program_settings_update
from tests.balances import available_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    program_settings_update(adjustment_approval_threshold=500)
    requester = User.objects.create_user("support", password="pw-test-only", is_staff=True)
    approver = User.objects.create_user("lead", password="pw-test-only", is_staff=True)
    return requester, approver


def test_an_adjustment_within_the_threshold_applies_at_once(card, program, staff):
    requester, _approver = staff
    adjustment = adjustment_request(member=card.member, points=500, reason="goodwill", by=requester)
    assert adjustment.status == "applied"
    assert available_points(card.member) == 500


def test_a_large_adjustment_waits_for_someone_else(card, program, staff, ledger_consistent):
    requester, approver = staff
    adjustment = adjustment_request(member=card.member, points=501, reason="lost", by=requester)
    assert adjustment.status == "pending"
    assert available_points(card.member) == 0
    with pytest.raises(Conflict, match="Someone else"):
        adjustment_approve(adjustment_id=adjustment.pk, by=requester)
    adjustment_approve(adjustment_id=adjustment.pk, by=approver)
    assert available_points(card.member) == 501
    with pytest.raises(Conflict, match="already decided"):
        adjustment_approve(adjustment_id=adjustment.pk, by=approver)
    assert available_points(card.member) == 501


def test_a_large_adjustment_split_in_small_ones_still_waits_for_someone_else(card, program, staff):
    requester, approver = staff
    first = adjustment_request(member=card.member, points=300, reason="part 1", by=requester)
    second = adjustment_request(member=card.member, points=300, reason="part 2", by=requester)
    assert (first.status, second.status) == ("applied", "pending")
    # Another person's own adjustment of this member counts on its own.
    third = adjustment_request(member=card.member, points=300, reason="other", by=approver)
    assert third.status == "applied"


def test_a_rejected_adjustment_moves_nothing(card, program, staff):
    requester, approver = staff
    adjustment = adjustment_request(member=card.member, points=-900, reason="fraud", by=requester)
    adjustment_reject(adjustment_id=adjustment.pk, by=approver)
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.approved_by) == ("rejected", approver)
    assert available_points(card.member) == 0


def test_bad_adjustments_are_refused(card, program, staff):
    requester, _approver = staff
    with pytest.raises(InvalidRequest):
        adjustment_request(member=card.member, points=0, reason="x", by=requester)
    with pytest.raises(InvalidRequest):
        adjustment_request(member=card.member, points=5, reason="  ", by=requester)
    assert not PointsAdjustment.objects.exists()


def test_the_database_refuses_self_approval_too(card, program, staff):
    requester, _approver = staff
    adjustment = adjustment_request(member=card.member, points=900, reason="x", by=requester)
    with pytest.raises(IntegrityError):
        PointsAdjustment.objects.filter(pk=adjustment.pk).update(approved_by=requester)


def test_the_admin_flow(client, card, program, staff):
    requester, approver = staff
    requester.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="members"),
        Permission.objects.get(codename="add_pointsadjustment"),
    )
    client.force_login(requester)
    url = reverse("admin:members_member_points_adjust", args=[card.member_id])
    response = client.post(url, {"points": "2000", "reason": "lost receipts"})
    assert response.status_code == 302
    adjustment = PointsAdjustment.objects.get()
    assert adjustment.status == "pending"

    approver.user_permissions.add(
        Permission.objects.get(codename="approve_pointsadjustment"),
        Permission.objects.get(codename="view_pointsadjustment"),
    )
    client.force_login(approver)
    changelist = reverse("admin:loyalty_pointsadjustment_changelist")
    client.post(changelist, {"action": "approve", "_selected_action": [adjustment.pk]})
    assert available_points(card.member) == 2000


def test_without_the_permission_there_is_no_approve_action(client, card, program, staff):
    requester, approver = staff
    adjustment_request(member=card.member, points=900, reason="x", by=requester)
    approver.user_permissions.add(Permission.objects.get(codename="view_pointsadjustment"))
    client.force_login(approver)
    changelist = reverse("admin:loyalty_pointsadjustment_changelist")
    page = client.get(changelist).content.decode()
    assert 'value="approve"' not in page
    client.post(changelist, {"action": "approve", "_selected_action": [1]})
    assert available_points(card.member) == 0
