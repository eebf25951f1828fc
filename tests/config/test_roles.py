"""Staff roles: each sees and does its own work in the admin, and nothing else."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from members.roles import ROLES, roles_sync

pytestmark = pytest.mark.django_db

# (changelist, role: status code) — 200 opens, 403 is refused.
PAGES = {
    "loyalty_journey": {"Marketer": 200, "Support": 403, "Partner manager": 403},
    "loyalty_earningrule": {"Marketer": 200, "Support": 403, "Partner manager": 403},
    "rewards_reward": {"Marketer": 200, "Support": 403, "Partner manager": 403},
    "members_member": {"Marketer": 200, "Support": 200, "Partner manager": 403},
    "members_card": {"Marketer": 200, "Support": 200, "Partner manager": 403},
    "loyalty_pointsadjustment": {"Marketer": 403, "Support": 200, "Partner manager": 403},
    "partners_partner": {"Marketer": 403, "Support": 403, "Partner manager": 200},
    "partners_statement": {"Marketer": 403, "Support": 403, "Partner manager": 200},
    "auth_user": {"Marketer": 403, "Support": 403, "Partner manager": 403},
    "members_cashierreport": {"Marketer": 200, "Support": 403, "Partner manager": 403},
    "loyalty_dailyfigures": {"Marketer": 200, "Support": 403, "Partner manager": 403},
}


def staff(role: str) -> User:
    user = User.objects.create_user(role.lower().replace(" ", "-"), password="pw-test-only")
    user.is_staff = role != "Cashier"
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def test_every_role_exists_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


@pytest.mark.parametrize("role", ["Marketer", "Support", "Partner manager"])
def test_each_role_opens_its_pages_and_is_refused_the_others(client, role):
    client.force_login(staff(role))
    for page, expected in PAGES.items():
        response = client.get(reverse(f"admin:{page}_changelist"))
        assert response.status_code == expected[role], (role, page)


def test_the_administrator_opens_everything(client):
    client.force_login(staff("Administrator"))
    for page in PAGES:
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200, page


def test_a_cashier_has_no_admin(client):
    client.force_login(staff("Cashier"))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_the_sidebar_is_organised_by_task_and_shows_only_what_the_role_may_open(client):
    client.force_login(staff("Partner manager"))
    html = client.get(reverse("admin:partners_partner_changelist")).content.decode()
    assert "Settlement statements" in html
    assert reverse("admin:members_member_changelist") not in html
    client.force_login(staff("Marketer"))
    html = client.get(reverse("admin:loyalty_journey_changelist")).content.decode()
    for group in ("Members", "Program", "Rewards", "Journeys", "Reports"):
        assert group in html
    assert reverse("admin:partners_partner_changelist") not in html


def test_support_may_adjust_points_but_not_set_tier_floors(client, card):
    client.force_login(staff("Support"))
    page = client.get(reverse("admin:members_member_change", args=[card.member_id]))
    html = page.content.decode()
    assert "Adjust points" in html
    assert "Set a tier floor" not in html
    floor = client.get(reverse("admin:members_member_tier_floor", args=[card.member_id]))
    assert floor.status_code == 403


def test_a_role_edited_by_hand_is_restored_on_migrate():
    marketer = Group.objects.get(name="Marketer")
    marketer.permissions.clear()
    roles_sync()
    assert marketer.permissions.filter(codename="change_journey").exists()
    assert marketer.permissions.filter(codename="view_reports").exists()


@pytest.mark.parametrize("role", ["Marketer", "Support", "Partner manager"])
def test_every_sidebar_link_opens(client, role):
    from config.admin_navigation import sidebar

    client.force_login(staff(role))
    request = client.get(reverse("admin:index")).wsgi_request
    links = [item["link"] for group in sidebar(request) for item in group["items"]]
    assert links
    for link in links:
        assert client.get(link, follow=True).status_code == 200, (role, link)
