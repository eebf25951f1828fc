"""Staff read, recalculate, close and download statements in the admin."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from partners.models import Statement
from tests.partners.test_settlements_api import at, pharmacy  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def statement_of(month: date) -> Statement:
    return Statement.objects.get(partner__code="apteka", month=month)


def test_the_list_and_a_statement_show_their_figures(admin_client, pharmacy):  # noqa: F811
    changelist = admin_client.get(reverse("admin:partners_statement_changelist"))
    assert changelist.status_code == 200
    assert "Аптека Zdrowie" in changelist.content.decode()
    february = statement_of(date(2026, 2, 1))
    page = admin_client.get(reverse("admin:partners_statement_change", args=[february.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "12.75" in html
    assert "-7.25" in html
    assert "Download PDF" in html


def test_downloads(admin_client, pharmacy):  # noqa: F811
    february = statement_of(date(2026, 2, 1))
    pdf = admin_client.get(reverse("admin:partners_statement_download_pdf", args=[february.pk]))
    assert pdf.content.startswith(b"%PDF-")
    csv = admin_client.get(reverse("admin:partners_statement_download_csv", args=[february.pk]))
    assert (
        b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()[-1].endswith("12.75,20.00")
    )


def test_closing_a_month_that_is_not_over_is_refused_with_a_message(admin_client, pharmacy):  # noqa: F811
    this_month = Statement.objects.create(
        partner=pharmacy, month=timezone.localdate().replace(day=1), computed_at=timezone.now()
    )
    response = admin_client.post(
        reverse("admin:partners_statement_close", args=[this_month.pk]), follow=True
    )
    assert "once the month is over" in response.content.decode()
    this_month.refresh_from_db()
    assert this_month.status == Statement.Status.OPEN


def test_closing_asks_first_and_closes_on_the_confirmation(admin_client, pharmacy):  # noqa: F811
    march = statement_of(date(2026, 3, 1))
    url = reverse("admin:partners_statement_close", args=[march.pk])
    asked = admin_client.get(url)
    assert "cannot be undone" in asked.content.decode()
    assert 'method="post"' in asked.content.decode()
    march.refresh_from_db()
    assert march.status == Statement.Status.OPEN  # a link never closes anything
    response = admin_client.post(url, follow=True)
    assert "closed and final" in response.content.decode()
    march.refresh_from_db()
    assert march.status == Statement.Status.CLOSED


def test_closing_needs_the_csrf_token(pharmacy, settings):  # noqa: F811
    from django.contrib.auth.models import User
    from django.test import Client

    march = statement_of(date(2026, 3, 1))
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="pw-test-only"))
    refused = client.post(reverse("admin:partners_statement_close", args=[march.pk]))
    assert refused.status_code == 403
    march.refresh_from_db()
    assert march.status == Statement.Status.OPEN


def test_recalculate_leaves_a_closed_statement_alone(admin_client, pharmacy):  # noqa: F811
    february = statement_of(date(2026, 2, 1))
    computed_at = february.computed_at
    response = admin_client.post(
        reverse("admin:partners_statement_recalculate", args=[february.pk]), follow=True
    )
    assert "closed statement is final" in response.content.decode()
    february.refresh_from_db()
    assert february.computed_at == computed_at


def test_settle_now_asks_first_then_brings_statements_up_to_date(admin_client, pharmacy):  # noqa: F811
    Statement.objects.filter(month=date(2026, 3, 1)).delete()
    url = reverse("admin:partners_statement_settle_now")
    admin_client.get(url)
    assert not Statement.objects.filter(month=date(2026, 3, 1)).exists()
    response = admin_client.post(url, follow=True)
    assert response.status_code == 200
    assert Statement.objects.filter(partner__code="apteka").count() >= 3  # up to this month


def test_a_marketer_downloads_no_statement(client, pharmacy):  # noqa: F811
    from tests.config.test_roles import staff

    march = statement_of(date(2026, 3, 1))
    client.force_login(staff("Marketer"))
    for name in ("download_csv", "download_pdf"):
        response = client.get(reverse(f"admin:partners_statement_{name}", args=[march.pk]))
        assert response.status_code == 403
