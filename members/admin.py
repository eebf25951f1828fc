from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from loyalty.selectors import member_balance

from .models import Card, Member

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


class CardInline(TabularInline):
    model = Card
    fk_name = "member"
    extra = 0
    fields = ["number", "status", "partner", "issued_at", "outlet", "replaced_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(ModelAdmin):
    list_display = ["__str__", "phone", "email", "status", "source", "created_at"]
    list_filter = ["status", "source", "consent_email", "consent_sms", "consent_push"]
    search_fields = ["phone", "email", "full_name", "cards__number", "external_id"]
    readonly_fields = ["referral_code", "created_at", "points"]
    fieldsets = [
        (None, {"fields": ["full_name", "phone", "email", "birth_date", "status", "points"]}),
        (_("Consents"), {"fields": ["consent_email", "consent_sms", "consent_push"]}),
        (_("Origin"), {"fields": ["source", "external_id", "referral_code", "user", "created_at"]}),
    ]
    inlines = [CardInline]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        # Members hold ledger history; they are anonymised, never deleted.
        return False

    @admin.display(description=_("Points"))
    def points(self, obj: Member) -> str:
        if obj.pk is None:
            return "—"
        balance = member_balance(obj)
        return _("%(available)d available, %(pending)d pending, %(debt)d owed") % balance


@admin.register(Card)
class CardAdmin(ModelAdmin):
    list_display = ["number", "member", "status", "partner", "issued_at", "outlet"]
    list_filter = ["status", "partner", "is_virtual"]
    search_fields = ["number", "member__phone", "member__full_name"]
    readonly_fields = ["member", "issued_by", "issued_at", "replaced_by", "created_at"]
    list_select_related = ["member", "partner", "outlet"]

    def has_delete_permission(self, request, obj=None):
        return False
