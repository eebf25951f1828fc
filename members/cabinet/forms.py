from allauth.account.forms import SignupForm
from allauth.core import context, ratelimit
from django import forms
from django.utils.translation import gettext as _


class CabinetSignupForm(SignupForm):
    """Sign up with an email, a phone, or both (at least one)."""

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone"):
            raise forms.ValidationError(_("Give an email or a phone number to sign in with."))
        if cleaned.get("phone") and not self._phone_code_may_be_sent(cleaned["phone"]):
            # allauth texts the code after it has saved the account, and raises when the
            # limit is reached: refuse here instead, before anything is saved.
            raise forms.ValidationError(
                _(
                    "Too many codes were sent to this phone or from your address; "
                    "wait a minute and try again."
                )
            )
        return cleaned

    def _phone_code_may_be_sent(self, phone: str) -> bool:
        return ratelimit.consume(context.request, action="verify_phone", key=phone, dry_run=True)
