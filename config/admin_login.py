"""The admin's sign-in: rate-limited like the cabinet's, and with a second factor for
staff who turned on an authenticator app (allauth's TOTP or a recovery code)."""

from typing import Any

from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _


class StaffAuthenticationForm(AdminAuthenticationForm):
    code = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        max_length=20,
        help_text=_("Only if you turned on two-factor authentication, or a recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "too_many": _("Too many failed sign-ins. Wait a few minutes and try again."),
        "code_needed": _("Enter the code from your authenticator app."),
        "code_wrong": _("This code is not right, or was already used."),
    }

    def clean(self) -> dict[str, Any]:
        key = f"admin:{(self.data.get('username') or '').strip().lower()}"
        if self.request is not None and not ratelimit.consume(
            self.request, action="login_failed", key=key, dry_run=True
        ):
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")
        try:
            cleaned = super().clean()
            user = self.get_user()
            if user is not None:
                self._second_factor_check(user)
        except forms.ValidationError:
            if self.request is not None:
                ratelimit.consume(self.request, action="login_failed", key=key)
            raise
        return cleaned

    def _second_factor_check(self, user: AbstractBaseUser) -> None:
        authenticators = {
            a.type: a
            for a in Authenticator.objects.filter(
                user_id=user.pk,
                type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES],
            )
        }
        totp = authenticators.get(Authenticator.Type.TOTP)
        if totp is None:
            return
        code = (self.cleaned_data.get("code") or "").replace(" ", "")
        if not code:
            raise forms.ValidationError(self.error_messages["code_needed"], code="code_needed")
        recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
        if TOTP(totp).validate_code(code):
            return
        if recovery is not None and RecoveryCodes(recovery).validate_code(code):
            return
        raise forms.ValidationError(self.error_messages["code_wrong"], code="code_wrong")


def admin_login_secure(site: AdminSite) -> None:
    site.login_form = StaffAuthenticationForm
    site.login_template = "admin/staff_login.html"
