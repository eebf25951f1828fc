from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from loyalty.admin import ReadOnlyAdmin

from .models import Reward, Voucher
from .selectors import voucher_code_normalize


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = [
            "kind",
            "point_cost",
            "discount_percent",
            "discount_amount",
            "image",
            *(f"{text}_{code}" for code in Reward.LANGUAGES for text in ("name", "description")),
            "is_active",
            "sort_order",
            "available_from",
            "available_until",
            "stock",
            "per_member_limit",
            "tiers",
            "voucher_valid_days",
        ]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        kind = data.get("kind")
        if kind == Reward.Kind.PERCENT_DISCOUNT and not data.get("discount_percent"):
            self.add_error("discount_percent", _("A percent discount voucher needs its percent."))
        if kind == Reward.Kind.FIXED_DISCOUNT and not data.get("discount_amount"):
            self.add_error("discount_amount", _("A fixed discount voucher needs its amount."))
        if not any(data.get(f"name_{code}") for code in Reward.LANGUAGES):
            self.add_error("name_en", _("Give the reward a name in at least one language."))
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end <= start:
            self.add_error("available_until", _("The end must come after the start."))
        return data


@admin.register(Reward)
class RewardAdmin(ModelAdmin):
    form = RewardForm
    list_display = ["__str__", "kind", "point_cost", "stock", "is_active", "vouchers_issued"]
    list_filter = ["kind", "is_active", "tiers"]
    list_editable = ["is_active"]
    search_fields = ["name_en", "name_ru", "name_pl"]
    filter_horizontal = ["tiers"]
    fieldsets = [
        (None, {"fields": ["kind", "point_cost", "discount_percent", "discount_amount", "image"]}),
        (
            _("Names and descriptions"),
            {
                "fields": [
                    "name_en",
                    "description_en",
                    "name_ru",
                    "description_ru",
                    "name_pl",
                    "description_pl",
                ]
            },
        ),
        (
            _("Availability"),
            {
                "fields": [
                    "is_active",
                    "sort_order",
                    "available_from",
                    "available_until",
                    "stock",
                    "per_member_limit",
                    "tiers",
                    "voucher_valid_days",
                ]
            },
        ),
    ]

    @admin.display(description=_("Vouchers issued"))
    def vouchers_issued(self, obj: Reward) -> int:
        return obj.vouchers.count()

    def has_delete_permission(self, request: HttpRequest, obj: Reward | None = None) -> bool:
        # A reward with vouchers is history; hide it from the catalogue instead.
        return super().has_delete_permission(request, obj) and not (obj and obj.vouchers.exists())


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = [
        "display_code",
        "title",
        "member",
        "source",
        "status",
        "issued_at",
        "valid_until",
        "used_at",
    ]
    list_filter = ["status", "source", "reward", ("valid_until", admin.DateFieldListFilter)]
    search_fields = ["code", "member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member"]
    date_hierarchy = "issued_at"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # A code is read out with dashes: search by the stored form too.
        normalized = voucher_code_normalize(search_term)
        results, distinct = super().get_search_results(request, queryset, search_term)
        if normalized and normalized != search_term:
            results |= queryset.filter(code=normalized)
        return results, distinct
