"""Custom pages of the admin (forms, previews, reports) drawn in the admin's own frame."""

from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

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
