from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from web.admin_pages import ReadOnlyAdmin, post_confirmed

from .models import (
    ApiKey,
    Outlet,
    Partner,
    PartnerRate,
    Statement,
    StatementLine,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .selectors import cobrand_multipliers_cache_clear
from .services import api_key_create, api_key_revoke
from .statement_documents import statement_csv, statement_pdf_response
from .statements import StatementNotDue, statement_close, statement_refresh
from .tasks import settle_partners
from .webhooks import (
    webhook_deliveries_retry,
    webhook_secret_new,
    webhook_subscriptions_cache_clear,
)


class OutletInline(TabularInline):
    model = Outlet
    extra = 0
    fields = ["code", "name", "address", "is_active"]


class PartnerRateInline(TabularInline):
    model = PartnerRate
    extra = 0
    fields = ["valid_from", "issued_price", "redeemed_price", "created_at"]
    readonly_fields = ["created_at"]

    def has_change_permission(self, request, obj=None):
        # A rate that applied is history: a change is a new row from a later day.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(ModelAdmin):
    list_display = ["name", "code", "status", "contact_name", "contact_email", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "code", "contact_name", "contact_email"]
    fieldsets = [
        (None, {"fields": ["name", "code", "status", "cobrand_multiplier"]}),
        (_("Contact"), {"fields": ["contact_name", "contact_email", "contact_phone", "notes"]}),
    ]
    inlines = [OutletInline, PartnerRateInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        cobrand_multipliers_cache_clear()  # purchases in this process see it at once


@admin.register(Outlet)
class OutletAdmin(ModelAdmin):
    list_display = ["name", "code", "partner", "is_active"]
    list_filter = ["partner", "is_active"]
    search_fields = ["name", "code", "address"]


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    list_display = ["prefix", "name", "partner", "outlet", "created_at", "revoked_at"]
    list_filter = ["partner", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "partner__name"]
    fields = ["partner", "outlet", "name", "prefix", "created_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        # A key is created or revoked, never edited: its scope is part of its identity.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        raw_key = api_key_create(
            partner=form.cleaned_data["partner"],
            outlet=form.cleaned_data.get("outlet"),
            name=form.cleaned_data.get("name", ""),
        )
        obj.pk = ApiKey.objects.get(prefix=raw_key.split(".", 1)[0]).pk
        messages.warning(
            request,
            _("New API key (shown only once, store it now): %(key)s") % {"key": raw_key},
        )

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key)
        messages.success(request, _("Revoked %(count)d key(s).") % {"count": queryset.count()})


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=WebhookEndpoint.Event.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["partner", "url", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "partner", "is_active", "created_at"]
    list_filter = ["partner", "is_active"]
    readonly_fields = ["secret", "created_at"]

    def save_model(self, request, obj, form, change):
        if not obj.secret:
            obj.secret = webhook_secret_new()
        super().save_model(request, obj, form, change)
        webhook_subscriptions_cache_clear()


class WebhookAttemptInline(TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ["attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ModelAdmin):
    list_display = ["event", "endpoint", "status", "attempts", "created_at", "next_attempt_at"]
    list_filter = ["status", "event", "endpoint__partner"]
    search_fields = ["message_id", "endpoint__url"]
    readonly_fields = [
        "endpoint",
        "message_id",
        "event",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description=_("Send again now (failed or waiting deliveries)"), permissions=["change"]
    )
    def retry_now(self, request, queryset):
        count = webhook_deliveries_retry(queryset.values_list("pk", flat=True))
        messages.success(request, _("%(count)d deliveries queued.") % {"count": count})


class StatementLineInline(TabularInline):
    model = StatementLine
    extra = 0
    fields = StatementLine.SHOWN
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    """Statements come from the ledger: staff read, recalculate, close and download them."""

    list_display = [
        "partner",
        "period",
        "status",
        "points_issued",
        "points_redeemed",
        "due_from_partner",
        "due_to_partner",
        "net_due",
    ]
    list_filter = ["status", "partner", "month"]
    search_fields = ["partner__name", "partner__code"]
    date_hierarchy = "month"
    readonly_fields = [
        "partner",
        "month",
        "status",
        "points_issued",
        "points_reversed",
        "points_redeemed",
        "points_returned",
        "points_unpriced",
        "due_from_partner",
        "due_to_partner",
        "net_due",
        "computed_at",
        "closed_at",
    ]
    fields = readonly_fields
    inlines = [StatementLineInline]
    actions_list = ["settle_now"]
    actions_detail = ["download_csv", "download_pdf", "recalculate", "close"]

    def has_settle_permission(self, request: HttpRequest, object_id=None) -> bool:
        """Recalculating and closing statements (the statements are never edited by hand)."""
        return request.user.has_perm("partners.change_statement")

    @admin.display(description=_("month"), ordering="month")
    def period(self, statement: Statement) -> str:
        return date_format(statement.month, "YEAR_MONTH_FORMAT")

    @admin.display(description=_("net due from the partner"))
    def net_due(self, statement: Statement):
        return statement.net_due_from_partner

    def _back_url(self, statement: Statement) -> str:
        return reverse("admin:partners_statement_change", args=[statement.pk])

    @action(description=_("Download CSV"), url_path="csv", permissions=["view"])
    def download_csv(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        return statement_csv(get_object_or_404(Statement, pk=object_id))

    @action(description=_("Download PDF"), url_path="pdf", permissions=["view"])
    def download_pdf(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        statement = get_object_or_404(Statement.objects.select_related("partner"), pk=object_id)
        return statement_pdf_response(statement)

    @action(
        description=_("Recalculate"),
        url_path="recalculate",
        permissions=["settle"],
    )
    def recalculate(self, request: HttpRequest, object_id: str) -> HttpResponse:
        statement = get_object_or_404(Statement.objects.select_related("partner"), pk=object_id)
        asked = post_confirmed(
            self,
            request,
            title=_("Recalculate the statement"),
            subject=str(statement),
            intro=_(
                "The statement's figures are computed again from the ledger and the rates in "
                "force. A closed statement is final and stays as it is."
            ),
            submit_label=_("Recalculate"),
            back_url=self._back_url(statement),
        )
        if asked is not None:
            return asked
        if statement.status == Statement.Status.CLOSED:
            messages.warning(request, _("A closed statement is final; it was not changed."))
        else:
            statement_refresh(statement)
            messages.success(request, _("Recalculated from the ledger."))
        return HttpResponseRedirect(self._back_url(statement))

    @action(description=_("Close"), url_path="close", permissions=["settle"])
    def close(self, request: HttpRequest, object_id: str) -> HttpResponse:
        statement = get_object_or_404(Statement.objects.select_related("partner"), pk=object_id)
        asked = post_confirmed(
            self,
            request,
            title=_("Close the statement"),
            subject=str(statement),
            intro=_(
                "Closing makes the statement final: it never changes again, and later "
                "changes to its month become correction lines of the next statement. This "
                "cannot be undone."
            ),
            submit_label=_("Close the statement"),
            back_url=self._back_url(statement),
        )
        if asked is not None:
            return asked
        try:
            statement_close(statement)
        except StatementNotDue as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("The statement is closed and final."))
        return HttpResponseRedirect(self._back_url(statement))

    @action(
        description=_("Settle now"),
        url_path="settle-now",
        permissions=["settle"],
    )
    def settle_now(self, request: HttpRequest) -> HttpResponse:
        """What the daily job does: statements up to today, due months closed."""
        back_url = reverse("admin:partners_statement_changelist")
        asked = post_confirmed(
            self,
            request,
            title=_("Settle now"),
            intro=_(
                "What the daily job does, now: every partner's statements up to today are "
                "created or recomputed, and the months due are closed for good."
            ),
            submit_label=_("Settle now"),
            back_url=back_url,
        )
        if asked is not None:
            return asked
        settle_partners.delay()
        messages.success(
            request, _("Statements are being brought up to date; reload the page in a moment.")
        )
        return HttpResponseRedirect(back_url)
