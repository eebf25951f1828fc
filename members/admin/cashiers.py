"""Cashiers and the till's audit trail of what they did."""

from django.contrib import admin
from unfold.admin import ModelAdmin

from ..models import Cashier, TillAction


@admin.register(Cashier)
class CashierAdmin(ModelAdmin):
    list_display = ["user", "outlet", "phone", "is_active"]
    list_filter = ["outlet", "is_active"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "phone"]
    list_select_related = ["user", "outlet"]
    autocomplete_fields = ["user"]


@admin.register(TillAction)
class TillActionAdmin(ModelAdmin):
    """The till's audit trail: read only."""

    list_display = ["created_at", "cashier", "outlet", "kind", "member", "card_number"]
    list_filter = ["kind", "outlet", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["cashier__username", "card_number", "member__phone"]
    list_select_related = ["cashier", "outlet", "member"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
