"""The data-quality audit: gaps and doubles counted, each a member list to fix."""

from datetime import date

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from members.models import Card, Member
from members.quality import quality_report
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(operator):
    """Four members: complete, no email, the same email twice, a likely double."""
    cards = [CardFactory(partner=operator) for _ in range(4)]
    full, bare, twin_a, twin_b = (Member.objects.get(pk=c.member_id) for c in cards)
    Member.objects.filter(pk=full.pk).update(
        email="full@example.com", birth_date=date(1990, 1, 1), consent_email=True
    )
    Member.objects.filter(pk__in=[twin_a.pk, twin_b.pk]).update(
        email="Same@Example.com", full_name="Ivan Petrov", birth_date=date(1985, 5, 5)
    )
    Member.objects.filter(pk=twin_b.pk).update(email="same@example.com")
    Card.objects.create(number="2000000099996", partner=operator, status="lost")
    return full, bare, twin_a, twin_b


def test_the_report_counts_gaps_doubles_and_orphan_cards(base):
    report = quality_report()
    gaps = {key: count for key, _label, count in report.gaps}
    assert report.members == 4
    assert gaps["no_email"] == 1
    assert gaps["no_birth_date"] == 1
    assert gaps["no_consent"] == 3
    assert report.shared_emails == 2  # letter case does not make two people
    assert report.shared_email_examples == [("same@example.com", 2)]
    assert report.shared_name_and_birth_date == 2
    assert report.cards_without_member == 1


def test_each_line_opens_the_members_to_fix(client, base):
    _full, bare, twin_a, twin_b = base
    user = User.objects.create_user("support", password="pw-test-only", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    page = client.get(reverse("admin:members_dataqualityreport_changelist"))
    assert page.status_code == 200
    assert "?quality=no_email" in page.content.decode()
    members = reverse("admin:members_member_changelist")
    no_email = client.get(members, {"quality": "no_email"}).context["cl"].result_list
    assert [m.pk for m in no_email] == [bare.pk]
    doubles = client.get(members, {"quality": "shared_email"}).context["cl"].result_list
    assert {m.pk for m in doubles} == {twin_a.pk, twin_b.pk}


def test_the_audit_exports(client, base):
    client.force_login(User.objects.create_superuser("root", password="pw-test-only"))
    url = reverse("admin:members_dataqualityreport_changelist")
    csv = client.get(url, {"export": "csv"})
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "Check,Members,Share"
    assert "No email,1,0.25" in lines
    xlsx = client.get(url, {"export": "xlsx"})
    assert xlsx["Content-Disposition"].endswith('data-quality.xlsx"')
