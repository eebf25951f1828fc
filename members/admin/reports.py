"""The members' reports: cashier KPIs and data quality, each on its page and exported."""

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.reports import days_bounds
from web.admin_pages import PeriodForm, ReportAdmin, admin_page

from ..exports import table_response
from ..models import CashierReport, DataQualityReport
from ..quality import QualityReport, quality_report
from ..selectors import cashier_kpis


@admin.register(CashierReport)
class CashierReportAdmin(ReportAdmin):
    """Cards issued per cashier and outlet, and how many of those members came back."""

    # Whoever sees the cashiers sees how their enrolments do (marketers, administrators).
    report_permission = "members.view_cashier"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        today = timezone.localdate()
        form = PeriodForm(request.GET or {"start": today - timedelta(days=89), "end": today})
        rows: list[dict[str, Any]] = []
        if form.is_valid():
            start, end = days_bounds(form.cleaned_data["start"], form.cleaned_data["end"])
            rows = cashier_kpis(start, end)
            export = self.export_kind(request)
            if export:
                return _cashier_kpis_export(rows, export)
        context = {
            "title": _("Cashier KPIs"),
            "form": form,
            "rows": rows,
            "query": request.GET.urlencode(),
            "totals": {
                "issued": sum(r["issued"] for r in rows),
                "repeat_30": sum(r["repeat_30"] for r in rows),
                "repeat_60": sum(r["repeat_60"] for r in rows),
            },
        }
        return admin_page(self, request, "admin/members/cashier_kpis.html", context)


def _cashier_kpis_export(rows: list[dict[str, Any]], kind: str) -> HttpResponseBase:
    header = [
        str(_("Cashier")),
        str(_("Outlet")),
        str(_("Cards issued")),
        str(_("Came back within 30 days")),
        str(_("Came back within 60 days")),
    ]
    lines = (
        [row["cashier"], row["outlet"], row["issued"], row["repeat_30"], row["repeat_60"]]
        for row in rows
    )
    return table_response("cashier-kpis", kind, header, lines)


@admin.register(DataQualityReport)
class DataQualityReportAdmin(ReportAdmin):
    """How complete and clean the member base is, with links to the members to fix."""

    report_permission = "members.view_member"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        report = quality_report()
        export = self.export_kind(request)
        if export:
            return _quality_export(report, export)
        members_url = reverse("admin:members_member_changelist")
        rows = [(label, count, f"{members_url}?quality={key}") for key, label, count in report.gaps]
        rows += [
            (
                str(_("Email shared with another member")),
                report.shared_emails,
                f"{members_url}?quality=shared_email",
            ),
            (
                str(_("Same name and birth date as another member")),
                report.shared_name_and_birth_date,
                f"{members_url}?quality=shared_name_birth",
            ),
        ]
        context = {
            "title": _("Data quality"),
            "report": report,
            "rows": rows,
            "cards_url": reverse("admin:members_card_changelist") + "?member__isempty=1",
        }
        return admin_page(self, request, "admin/members/data_quality.html", context)


def _quality_export(report: QualityReport, kind: str) -> HttpResponseBase:
    header = [str(_("Check")), str(_("Members")), str(_("Share"))]
    total = report.members or 1
    rows = [[label, count, round(count / total, 4)] for _key, label, count in report.gaps]
    rows.append([str(_("Email shared with another member")), report.shared_emails, None])
    rows.append(
        [
            str(_("Same name and birth date as another member")),
            report.shared_name_and_birth_date,
            None,
        ]
    )
    rows.append(
        [
            str(_("Cards without a member (blanks lost or blocked)")),
            report.cards_without_member,
            None,
        ]
    )
    return table_response("data-quality", kind, header, rows)
