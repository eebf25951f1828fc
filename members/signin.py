"""Signing in with a password: one set of rules at every door (the admin, the till, the
cabinet and the mobile app's token).

- Failed attempts are limited by allauth's `login_failed` limit, per client address and
  per account. The account is the one the typed login names, however it was spelt
  (`support`, `support@example.com`, `+7 912 ...` or `8 912 ...`), so another spelling
  gives no more guesses; a login that names no account is counted as typed.
- An account with an authenticator app also needs its code, or one of its recovery codes.
- A session remembers the door it was made at. A session made at the till opens the till
  and nothing else; the till opens only to cashiers, signed in there or, for staff who are
  also cashiers, in the admin.
"""

from collections.abc import Callable
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.utils import filter_users_by_email
from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django import forms
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import CabinetPhone
from .phones import InvalidPhone, phone_normalize

LIMIT = "login_failed"


class SignInRefused(Exception):
    """Why a sign-in was refused: one of `MESSAGES`' keys."""

    MESSAGES = {
        "too_many": _("Too many failed sign-ins. Wait a few minutes and try again."),
        "wrong": _("The login or password is not right."),
        "code_needed": _("Enter the code from your authenticator app."),
        "code_wrong": _("This code is not right, or was already used."),
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message = str(self.MESSAGES[reason])
        super().__init__(self.message)


def account_for_login(login: str) -> User | None:
    """The account a typed login names: a username, an email or a sign-in phone."""
    login = login.strip()
    if not login:
        return None
    user = User.objects.filter(username=login).first()
    if user is None and "@" in login:
        user = next(iter(filter_users_by_email(login, prefer_verified=True)), None)
    if user is None:
        user = _account_for_phone(login)
    return user


def _account_for_phone(login: str) -> User | None:
    try:
        phone = phone_normalize(login)
    except InvalidPhone:
        return None
    row = CabinetPhone.objects.select_related("user").filter(phone=phone).first()
    return row.user if row is not None else None


def attempts_key(login: str) -> str:
    """What failed sign-ins are counted against: the account, else the login as typed."""
    user = account_for_login(login)
    return f"account:{user.pk}" if user is not None else f"login:{login.strip().lower()}"


def failure_count(request: HttpRequest, login: str) -> None:
    """One more failed attempt, for the address and the account."""
    ratelimit.consume(request, action=LIMIT, key=attempts_key(login))


def password_sign_in(request: HttpRequest, *, login: str, password: str, code: str = "") -> User:
    """The account for this login, password and (if it has one) second factor.

    Raises SignInRefused. Goes through allauth's adapter, whose attempts key is
    `attempts_key` (members.cabinet.adapter), so a guess here and a guess in the cabinet
    draw on one budget.
    """
    adapter = get_adapter(request)
    try:
        user = adapter.authenticate(request, username=login, password=password)
    except forms.ValidationError as error:
        if error.code == "too_many_login_attempts":
            raise SignInRefused("too_many") from None
        raise
    if not isinstance(user, User):
        raise SignInRefused("wrong")
    try:
        second_factor_check(user, code)
    except SignInRefused:
        failure_count(request, login)
        raise
    return user


def second_factor_check(user: AbstractBaseUser, code: str) -> None:
    """Nothing for an account without an authenticator app; otherwise its current code
    or an unused recovery code (which is then used up)."""
    authenticators = {
        a.type: a
        for a in Authenticator.objects.filter(
            user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
        )
    }
    totp = authenticators.get(Authenticator.Type.TOTP)
    if totp is None:
        return
    code = code.replace(" ", "")
    if not code:
        raise SignInRefused("code_needed")
    if TOTP(totp).validate_code(code):
        return
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    if recovery is not None and RecoveryCodes(recovery).validate_code(code):
        return
    raise SignInRefused("code_wrong")


def has_second_factor(user: AbstractBaseUser) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


class TillSessionBackend(ModelBackend):
    """Marks a session as made at the till (Django keeps the backend's path in it).

    It authenticates nobody itself: the till signs in through `password_sign_in`, then
    logs the user in with this backend.
    """

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:  # type: ignore[override]
        return None


TILL_BACKEND = f"{TillSessionBackend.__module__}.{TillSessionBackend.__qualname__}"


def made_at_till(request: HttpRequest) -> bool:
    return request.session.get(BACKEND_SESSION_KEY) == TILL_BACKEND


class SignInForm(forms.Form):
    """Login, password and, for accounts that use one, the authenticator's code.

    Mixed into Django's authentication forms (the admin's, the till's): `clean` signs in
    through `password_sign_in`, then the form's own `confirm_login_allowed` says whether
    this door admits the account.
    """

    code = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        max_length=20,
        help_text=_("Only if you turned on two-factor authentication, or a recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    request: HttpRequest | None
    user_cache: Any
    # Django's authentication form the mixin goes with says who this door admits.
    confirm_login_allowed: Callable[[AbstractBaseUser], None]

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        login = cleaned.get("username") or ""
        password = cleaned.get("password") or ""
        if not login or not password or self.request is None:
            return cleaned
        try:
            user = password_sign_in(
                self.request, login=login, password=password, code=cleaned.get("code") or ""
            )
        except SignInRefused as refusal:
            raise forms.ValidationError(refusal.message, code=refusal.reason) from None
        self.confirm_login_allowed(user)
        self.user_cache = user
        return cleaned
