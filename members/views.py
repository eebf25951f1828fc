"""The cashier's till: one page, htmx fragments, keyboard first. Thin: see members.till."""

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from loyalty.exceptions import LoyaltyError
from loyalty.program import MAX_RECEIPT_AMOUNT
from loyalty.selectors import member_balance
from loyalty.tiers import member_status
from rewards.selectors import voucher_code_like, voucher_code_normalize, vouchers_usable

from .ean import ean13_is_valid
from .models import Card, Cashier, Member
from .selectors import member_shown_to
from .signin import TILL_BACKEND, SignInForm, made_at_till
from .till import (
    cashier_of,
    till_claim_waiting,
    till_find,
    till_issue,
    till_issue_confirm,
    till_purchase,
    till_refund,
    till_voucher_use,
)

# Refusals are swapped into the page like answers (htmx is told to swap 422).
REFUSED = 422

TillView = Callable[[HttpRequest, Cashier], HttpResponse]


def cashier_view(view: TillView) -> Callable[[HttpRequest], HttpResponse]:
    """A cashier signed in at the till (or a staff member, signed in to the back-office,
    who is also a cashier): the till's views get the cashier as an argument."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and (made_at_till(request) or user.is_staff)):
            # A cabinet session opens the cabinet only: sign in here.
            return redirect_to_login(request.get_full_path(), "till-login")
        return view(request, cashier_of(user))

    return wrapper


class TillSignInForm(SignInForm, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "not_cashier": _(
            "Only cashiers sign in at the till. Staff who are also cashiers open the till "
            "after signing in to the back-office."
        ),
    }

    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        super().confirm_login_allowed(user)
        is_staff = getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)
        if is_staff or not Cashier.objects.filter(user_id=user.pk, is_active=True).exists():
            raise ValidationError(self.error_messages["not_cashier"], code="not_cashier")


class TillLoginView(LoginView):
    """The till's sign-in: cashiers only, through the limits and the second factor of every
    door; the session it makes opens the till and nothing else."""

    form_class = TillSignInForm
    template_name = "till/login.html"
    next_page = "till"

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        login(self.request, form.get_user(), backend=TILL_BACKEND)
        return HttpResponseRedirect(self.get_success_url())


def _member_context(
    cashier: Cashier, member: Member, card: Card | None, **extra: Any
) -> dict[str, Any]:
    return {
        "cashier": cashier,
        "member": member,
        # The name and phone as this till's partner may see them (the API's rule).
        "shown": member_shown_to(member, cashier.outlet.partner),
        "card": card,
        "balance": member_balance(member),
        "status": member_status(member.pk),
        "vouchers": vouchers_usable(member.pk, timezone.now()),
        "key": uuid.uuid4().hex,  # one idempotency key per form shown: a double Enter is one sale
        **extra,
    }


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "till/refused.html", {"message": message}, status=REFUSED)


def _amount(raw: str) -> Decimal:
    try:
        value = Decimal(raw.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise LoyaltyError(_("Enter the amount as a number, for example 1250.50.")) from None
    if not value.is_finite() or value <= 0:
        raise LoyaltyError(_("The amount must be above zero."))
    if value > MAX_RECEIPT_AMOUNT:  # before rounding: 1e999 has no cents to round to
        raise LoyaltyError(_("A receipt is at most %(amount)s.") % {"amount": MAX_RECEIPT_AMOUNT})
    return value.quantize(Decimal("0.01"))


def _points(raw: str) -> int:
    text = raw.strip() or "0"
    if not text.isdigit():
        raise LoyaltyError(_("Points to pay with are a whole number."))
    return int(text)


def _receipt(request: HttpRequest) -> str:
    receipt = request.POST.get("receipt", "").strip()
    if not receipt:
        raise LoyaltyError(_("Enter the receipt number."))
    if len(receipt) > 64:
        raise LoyaltyError(_("A receipt number is at most 64 characters."))
    return receipt


@require_http_methods(["GET", "POST"])
@cashier_view
def till_page(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    """The till. A search posted to it shows that member at once: a scan typed before the
    page's script was ready submits the search box the plain way, and still works. (A
    POST, as every search is: each is audited, and no GET writes anything.)"""
    query = request.POST.get("q", "").strip()
    context: dict[str, Any] = {"cashier": cashier}
    if query:
        try:
            template, found = _find(cashier, query)
        except LoyaltyError as error:
            template, found = "till/refused.html", {"message": error.message}
        context.update(found, panel=template)
    return render(request, "till/page.html", context)


@require_POST
@cashier_view
def till_find_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    query = request.POST.get("q", "").strip()
    if not query:
        return _refused(request, _("Scan a card or type a phone number."))
    try:
        template, context = _find(cashier, query)
    except LoyaltyError as error:
        return _refused(request, error.message)
    return render(request, template, context)


def _find(cashier: Cashier, query: str) -> tuple[str, dict[str, Any]]:
    """The panel a search shows: the member, or the form to issue a card."""
    found = till_find(cashier, query)
    if found.member is None:
        scanned = query if ean13_is_valid(query) else ""
        context = {"query": query, "card_number": scanned, "phone": "" if scanned else query}
        return "till/not_found.html", context
    # A scanned voucher: its Use button takes the focus, so Enter takes the voucher.
    scanned_voucher = voucher_code_normalize(query) if voucher_code_like(query) else ""
    context = _member_context(cashier, found.member, found.card, scanned_voucher=scanned_voucher)
    return "till/member.html", context


@require_POST
@cashier_view
def till_issue_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    try:
        result = till_issue(
            cashier,
            card_number=request.POST.get("card", "").strip(),
            phone=request.POST.get("phone", ""),
            name=request.POST.get("name", ""),
        )
    except LoyaltyError as error:
        return _refused(request, error.message)
    if result.claim is not None:
        return render(request, "till/confirm.html", {"claim": result.claim})
    notice = _("Card issued to a new member.") if result.created else _("Card issued.")
    context = _member_context(cashier, result.member, result.card, notice=notice)
    return render(request, "till/member.html", context)


@require_POST
@cashier_view
def till_issue_confirm_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    """The member's code typed in: the card is theirs; a wrong code keeps the form."""
    card_number = request.POST.get("card", "").strip()
    try:
        card = till_issue_confirm(
            cashier, card_number=card_number, code=request.POST.get("code", "")
        )
    except LoyaltyError as error:
        claim = till_claim_waiting(cashier, card_number)
        if claim is None:
            return _refused(request, error.message)
        context = {"claim": claim, "error": error.message}
        return render(request, "till/confirm.html", context, status=REFUSED)
    assert card.member is not None
    context = _member_context(cashier, card.member, card, notice=_("Card issued."))
    return render(request, "till/member.html", context)


@require_POST
@cashier_view
def till_purchase_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    card_number = request.POST.get("card", "").strip()
    try:
        result = till_purchase(
            cashier,
            card_number=card_number,
            receipt_id=_receipt(request),
            amount=_amount(request.POST.get("amount", "")),
            redeem_points=_points(request.POST.get("redeem", "")),
            key=request.POST.get("key", "") or uuid.uuid4().hex,
        )
    except LoyaltyError as error:
        return _refused(request, error.message)
    return render(request, "till/purchase_done.html", {"result": result.body})


@require_POST
@cashier_view
def till_refund_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    try:
        result = till_refund(
            cashier,
            receipt_id=_receipt(request),
            amount=_amount(request.POST.get("amount", "")),
            key=request.POST.get("key", "") or uuid.uuid4().hex,
        )
    except LoyaltyError as error:
        return _refused(request, error.message)
    return render(request, "till/refund_done.html", {"result": result.body})


@require_POST
@cashier_view
def till_voucher_view(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    code = request.POST.get("code", "").strip()
    try:
        if not code:
            raise LoyaltyError(_("Scan or type the voucher code."))
        result = till_voucher_use(
            cashier,
            code=code,
            receipt_id=request.POST.get("receipt", "").strip()[:64],
            key=request.POST.get("key", "") or uuid.uuid4().hex,
        )
    except LoyaltyError as error:
        return _refused(request, error.message)
    return render(request, "till/voucher_done.html", {"voucher": result.body})
