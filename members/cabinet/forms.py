from allauth.account.forms import SignupForm
from django import forms
from django.utils.translation import gettext as _


class CabinetSignupForm(SignupForm):
    """Sign up with an email, a phone, or both (at least one)."""

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone"):
            raise forms.ValidationError(_("Give an email or a phone number to sign in with."))
        return cleaned
