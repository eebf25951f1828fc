"""Access: staff and user accounts, their roles (groups) and sign-in emails, and the audit
trail of what staff changed in the admin."""

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from web.admin_pages import ReadOnlyAdmin

admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(EmailAddress)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(EmailAddress)
class SignInEmailAdmin(EmailAddressAdmin, ModelAdmin):
    """allauth's page of sign-in emails, whose "verify" action asks for the permission to
    change them (allauth's own declares none)."""

    @admin.action(description=_("Mark the selected emails verified"), permissions=["change"])
    def make_verified(self, request: HttpRequest, queryset) -> None:
        super().make_verified(request, queryset)


@admin.register(LogEntry)
class AuditTrailAdmin(ReadOnlyAdmin):
    """Every change staff made in the admin: who, when, what (read-only). The ledger's
    adjustments and the till's actions keep their own records as well."""

    list_display = ["action_time", "user", "action_flag", "content_type", "object_repr", "summary"]
    list_filter = [
        "action_flag",
        "content_type",
        "user",
        ("action_time", admin.DateFieldListFilter),
    ]
    search_fields = ["object_repr", "change_message", "user__username"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "action_time"

    @admin.display(description=_("change"))
    def summary(self, entry: LogEntry) -> str:
        return entry.get_change_message()
