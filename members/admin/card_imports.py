"""Importing a legacy card base: upload, the check, confirmation, progress and the report of
the rows with problems."""

import csv
import io
import itertools
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.widgets import (
    UnfoldAdminFileFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from web.admin_pages import ACTION_PAGE, admin_page

from ..imports.fields import FIELDS
from ..imports.jobs import card_import_confirm, card_import_upload, progress_rows
from ..models import CardImport
from ..tasks import card_import_check_task, card_import_run_task


class CardImportForm(forms.Form):
    # Unfold's own file widget: its script writes the chosen file's name into the
    # widget's placeholder, and would write it into the next text field otherwise.
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8 or Windows-1251, any usual delimiter) or XLSX."),
        widget=UnfoldAdminFileFieldWidget,
    )
    on_conflict = forms.ChoiceField(
        label=_("When a card or phone already exists"),
        choices=CardImport.OnConflict.choices,
        initial=CardImport.OnConflict.SKIP,
        widget=UnfoldAdminSelectWidget,
    )
    encoding = forms.CharField(
        label=_("Encoding"),
        initial="auto",
        max_length=20,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("auto finds UTF-8 or Windows-1251; or name one, such as cp1251."),
    )
    delimiter = forms.CharField(
        label=_("Delimiter"),
        initial="auto",
        max_length=10,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("auto finds comma, semicolon or tab; or type the character."),
    )
    mapping = forms.CharField(
        label=_("Columns"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "border rounded-default p-2 w-full"}),
        help_text=_(
            "Only for headers that are not recognised: one per line, "
            '"Header in the file=field", for example "Kartennummer=card_number".'
        ),
    )

    def clean_mapping(self) -> dict[str, str]:
        mapping = {}
        for line in self.cleaned_data["mapping"].splitlines():
            if not line.strip():
                continue
            source, separator, target = line.rpartition("=")
            if not separator or not source.strip() or target.strip() not in FIELDS:
                raise forms.ValidationError(
                    _("Write each line as Header=field, with a field among: %(fields)s.")
                    % {"fields": ", ".join(FIELDS)}
                )
            mapping[source.strip()] = target.strip()
        return mapping


@admin.register(CardImport)
class CardImportAdmin(ModelAdmin):
    """Upload a legacy file, read the check, then confirm the import."""

    list_display = ["original_name", "status", "uploaded_by", "created_at", "finished_at"]
    list_filter = ["status"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path(
                "<int:import_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="members_cardimport_progress",
            ),
            path(
                "<int:import_id>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="members_cardimport_confirm",
            ),
            path(
                "<int:import_id>/report/",
                self.admin_site.admin_view(self.report_view),
                name="members_cardimport_report",
            ),
        ]
        return urls + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CardImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = card_import_upload(
                upload=form.cleaned_data["file"],
                on_conflict=form.cleaned_data["on_conflict"],
                encoding=form.cleaned_data["encoding"],
                delimiter=form.cleaned_data["delimiter"],
                mapping=form.cleaned_data["mapping"],
                by=request.user,
            )
            card_import_check_task.delay_on_commit(job.pk)
            return HttpResponseRedirect(reverse("admin:members_cardimport_change", args=[job.pk]))
        context = {
            "title": _("Import a legacy card base"),
            "intro": _(
                "The file is checked first and nothing is written: you see what would be "
                "created and which rows have problems, then confirm. The import is all or "
                "nothing; rows with problems are skipped and listed in a report."
            ),
            "form": form,
            "multipart": True,
            "submit_label": _("Upload and check"),
            "back_url": reverse("admin:members_cardimport_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=object_id)
        summaries = [
            (_("Check"), job.check_summary),
            (_("Result"), job.import_summary),
        ]
        running = job.status in (CardImport.Status.CHECKING, CardImport.Status.IMPORTING)
        context = {
            "title": job.original_name,
            "job": job,
            "running": running,
            "rows_read": progress_rows(job.pk),
            "summaries": [(heading, data) for heading, data in summaries if data],
            "problems": _report_head(job) if job.status == CardImport.Status.CHECKED else [],
            "progress_url": reverse("admin:members_cardimport_progress", args=[job.pk]),
            "confirm_url": reverse("admin:members_cardimport_confirm", args=[job.pk]),
            "report_url": reverse("admin:members_cardimport_report", args=[job.pk]),
            "back_url": reverse("admin:members_cardimport_changelist"),
        }
        return admin_page(self, request, "admin/members/card_import.html", context)

    def progress_view(self, request: HttpRequest, import_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=import_id)
        return JsonResponse({"status": job.status, "rows": progress_rows(job.pk)})

    def confirm_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        get_object_or_404(CardImport, pk=import_id)
        if card_import_confirm(import_id):
            card_import_run_task.delay_on_commit(import_id)
        return HttpResponseRedirect(reverse("admin:members_cardimport_change", args=[import_id]))

    def report_view(self, request: HttpRequest, import_id: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=import_id)
        if not job.report:
            raise Http404
        name = f"{Path(job.original_name).stem}-report.csv"
        return FileResponse(job.report.open("rb"), as_attachment=True, filename=name)


REPORT_PREVIEW_ROWS = 20


def _report_head(job: CardImport) -> list[dict[str, str]]:
    """The first problems of the check's report, shown before the user confirms."""
    if not job.report:
        return []
    with job.report.open("rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig")
        return list(itertools.islice(csv.DictReader(text), REPORT_PREVIEW_ROWS))
