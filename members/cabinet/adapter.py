"""django-allauth hooks: phones stored in `CabinetPhone`, codes sent by our SMS backend,
phones typed the way people write them."""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.contrib.auth.models import AbstractBaseUser, User
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import CabinetPhone
from ..phones import InvalidPhone, phone_normalize
from ..signin import attempts_key
from ..sms import sms_send
from .services import phone_member_link


class CabinetPhoneField(forms.CharField):
    """`8 (912) 345-67-89`, `+7 912 345 67 89` or `9123456789`, stored as E.164."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", gettext_lazy("Phone"))
        kwargs.setdefault("widget", forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return value
        try:
            return phone_normalize(value)
        except InvalidPhone:
            raise forms.ValidationError(_("Enter a valid phone number.")) from None


class CabinetAccountAdapter(DefaultAccountAdapter):
    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth counts failed sign-ins per login as typed (and every phone sign-in on
        # one empty key); count them per account, as every other door does.
        login = credentials.get("email") or credentials.get("username") or credentials.get("phone")
        return attempts_key(str(login or ""))

    def phone_form_field(self, **kwargs: Any) -> forms.Field:
        return CabinetPhoneField(**kwargs)

    def send_verification_code_sms(
        self, user: AbstractBaseUser, phone: str, code: str, **kwargs: Any
    ) -> None:
        sms_send(phone, _("Your loyalty program code: %(code)s") % {"code": code})

    def set_phone(self, user: AbstractBaseUser, phone: str, verified: bool) -> None:
        CabinetPhone.objects.update_or_create(
            user_id=user.pk, defaults={"phone": phone, "verified": verified}
        )

    def get_phone(self, user: AbstractBaseUser) -> tuple[str, bool] | None:
        row = CabinetPhone.objects.filter(user_id=user.pk).first()
        return (row.phone, row.verified) if row is not None else None

    def set_phone_verified(self, user: AbstractBaseUser, phone: str) -> None:
        CabinetPhone.objects.filter(user_id=user.pk, phone=phone).update(verified=True)
        if isinstance(user, User):
            # Proving the phone is proving the card issued to it: link that member.
            phone_member_link(user=user, phone=phone)

    def get_user_by_phone(self, phone: str) -> AbstractBaseUser | None:
        # The login form passes the phone as typed (`8 913 ...`): compare in E.164.
        try:
            phone = phone_normalize(phone)
        except InvalidPhone:
            return None
        row = CabinetPhone.objects.select_related("user").filter(phone=phone).first()
        return row.user if row is not None else None
