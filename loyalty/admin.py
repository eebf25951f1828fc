from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from .models import (
    Account,
    EarningRule,
    EventAward,
    EventBonus,
    Lot,
    ProgramSettings,
    Purchase,
    Refund,
    Transfer,
)
from .selectors import earning_rules_cache_clear, event_bonuses_cache_clear
from .services import program_settings_update


class ReadOnlyAdmin(ModelAdmin):
    """The ledger is append-only: the admin shows it and never edits it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(ModelAdmin):
    fieldsets = [
        (_("Program"), {"fields": ["currency", "point_name", "card_prefix"]}),
        (
            _("Earning"),
            {
                "fields": [
                    "earn_mode",
                    "earn_points",
                    "earn_amount",
                    "cashback_percent",
                    "rounding",
                    "pending_days",
                ]
            },
        ),
        (_("Expiry"), {"fields": ["expiry_months", "expiry_period"]}),
        (
            _("Redemption"),
            {"fields": ["point_value", "max_redeem_share", "min_balance_to_redeem"]},
        ),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One program per deployment: the list is just its settings page.
        ProgramSettings.objects.get_or_create(id=1)
        return HttpResponseRedirect(reverse("admin:loyalty_programsettings_change", args=[1]))

    def save_model(self, request, obj, form, change):
        program_settings_update(**form.cleaned_data)


@admin.register(EarningRule)
class EarningRuleAdmin(ModelAdmin):
    list_display = [
        "name",
        "is_active",
        "action",
        "value",
        "priority",
        "stackable",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["is_active", "action", "stackable"]
    search_fields = ["name", "skus", "categories"]
    filter_horizontal = ["partners", "outlets"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "priority", "stackable"]}),
        (_("Reward"), {"fields": ["action", "value", "per_item", "cap_per_receipt"]}),
        (_("When"), {"fields": ["starts_at", "ends_at", "weekdays", "hour_from", "hour_to"]}),
        (
            _("Where and what"),
            {"fields": ["partners", "outlets", "skus", "categories", "min_amount"]},
        ),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        earning_rules_cache_clear()  # the next purchase in this process sees the change

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        earning_rules_cache_clear()


@admin.register(EventBonus)
class EventBonusAdmin(ModelAdmin):
    list_display = ["event", "points", "referrer_points", "is_active"]
    list_filter = ["is_active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        event_bonuses_cache_clear()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        event_bonuses_cache_clear()


@admin.register(EventAward)
class EventAwardAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "event", "period", "points"]
    list_filter = ["event"]
    search_fields = ["member__phone", "member__full_name"]
    list_select_related = ["member"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "member", "partner", "balance"]
    list_filter = ["kind", "partner"]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member", "partner"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "code",
        "amount",
        "debit_account",
        "credit_account",
        "purchase",
    ]
    list_filter = ["code", ("created_at", admin.DateFieldListFilter)]
    search_fields = [
        "reference",
        "purchase__receipt_id",
        "debit_account__member__phone",
        "credit_account__member__phone",
    ]
    list_select_related = [
        "debit_account__member",
        "credit_account__member",
        "purchase",
        "debit_account__partner",
        "credit_account__partner",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "amount", "remaining", "release_at", "expires_at"]
    list_select_related = ["account__member"]
    search_fields = ["account__member__phone"]


class RefundInline(TabularInline):
    model = Refund
    extra = 0
    fields = ["created_at", "amount", "points_reversed", "points_returned", "debt_booked"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt_id",
        "created_at",
        "member",
        "partner",
        "outlet",
        "amount",
        "points_earned",
        "points_redeemed",
        "refunded_amount",
    ]
    list_filter = ["partner", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["receipt_id", "card__number", "member__phone"]
    list_select_related = ["member", "partner", "outlet"]
    date_hierarchy = "created_at"
    inlines = [RefundInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["receipt_id", "created_at", "partner", "outlet", "card", "member"]}),
        (_("Money"), {"fields": ["amount", "redeemed_value", "refunded_amount"]}),
        (
            _("Points"),
            {
                "fields": [
                    "points_earned",
                    "explanation",
                    "points_redeemed",
                    "points_reversed",
                    "points_returned",
                ]
            },
        ),
        (_("Items"), {"fields": ["items"]}),
    ]
    readonly_fields = ["explanation"]

    @admin.display(description=_("How the points were earned"))
    def explanation(self, obj: Purchase) -> str:
        lines = [
            format_html(
                "{}: <strong>{}</strong>", rule.get("description", ""), rule.get("points", 0)
            )
            for rule in obj.applied_rules or []
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "—"
