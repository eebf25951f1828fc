"""Custom pages of the admin (forms, previews, reports) drawn in the admin's own frame."""

from typing import Any

from django.contrib.admin import ModelAdmin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
