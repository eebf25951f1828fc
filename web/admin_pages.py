"""Custom pages of the admin (forms, previews, reports) drawn in the admin's own frame."""

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from members.exports import EXPORT_KINDS

if TYPE_CHECKING:  # django-stubs' helper type: a development dependency only
    from django_stubs_ext import StrOrPromise

# A form with a title, an introduction, a submit button and a way back.
ACTION_PAGE = "admin/loyalty/action_page.html"


def admin_page(
    model_admin: ModelAdmin, request: HttpRequest, template: str, context: dict[str, Any]
) -> HttpResponse:
    """Render `template` with what every admin page needs: the site's context (navigation,
    language, user) and the model's options (breadcrumbs)."""
    return render(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            **context,
        },
    )


def post_confirmed(
    model_admin: ModelAdmin,
    request: HttpRequest,
    *,
    title: "StrOrPromise",
    intro: "StrOrPromise",
    submit_label: "StrOrPromise",
    back_url: str,
    subject: str = "",
) -> HttpResponse | None:
    """None when the action was confirmed (a POST, whose CSRF token Django has checked);
    otherwise the page that asks for the confirmation. An action reached by a link never
    changes anything on its own."""
    if request.method == "POST":
        return None
    context = {
        "title": title,
        "subject": subject,
        "intro": intro,
        "form": forms.Form(),
        "submit_label": submit_label,
        "back_url": back_url,
    }
    return admin_page(model_admin, request, ACTION_PAGE, context)


class PeriodForm(forms.Form):
    """A report's period: two days, both included."""

    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label=_("Until (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("start") and cleaned.get("end") and cleaned["end"] < cleaned["start"]:
            raise forms.ValidationError(_("The end comes before the start."))
        return cleaned


class ReadOnlyAdmin(ModelAdmin):
    """Records the admin shows and never edits (the ledger is append-only, reports and
    statements are computed, the audit trail is written by the admin itself)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReportAdmin(ReadOnlyAdmin):
    """A report in the admin: its model's page shows the report, nothing is edited.

    Subclasses name the permission that opens it and draw it in `report_view`.
    """

    report_permission: str

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(self.report_permission)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self.report_view(request)

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError

    @staticmethod
    def export_kind(request: HttpRequest) -> str | None:
        """ "csv" or "xlsx" when the page is asked for a file, else None."""
        kind = request.GET.get("export")
        return kind if kind in EXPORT_KINDS else None
