"""The customer cabinet: thin views over members.cabinet and rewards services."""

import uuid
from collections.abc import Callable
from datetime import date
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.exceptions import LoyaltyError
from loyalty.leaderboard import leaderboard_board, leaderboard_join, leaderboard_leave
from loyalty.models import LeaderboardEntry
from loyalty.tiers import member_benefits, member_tier_progress, tier_snapshot
from rewards.api import reward_redeem_answer
from rewards.models import Reward
from rewards.selectors import reward_redeem_check

from ..auth import signed_in_user
from ..models import CardLinkCode, Member
from .badges import member_badges
from .images import barcode_svg, qr_svg
from .roadmap import member_roadmap
from .selectors import (
    HISTORY_KINDS,
    cabinet_balance,
    history_page,
    member_card,
    member_data_export,
    member_history,
    member_vouchers,
    referral_results,
    reward_catalogue,
)
from .services import (
    ProfileChange,
    card_link_confirm,
    card_link_start,
    member_anonymise,
    profile_update,
    virtual_card_issue,
)

HISTORY_PAGE_SIZE = 25
REFERRAL_SESSION_KEY = "referral_code"

MemberView = Callable[..., HttpResponse]


def member_view(view: MemberView) -> Callable[..., HttpResponse]:
    """Signed in and holding a card: the view gets the member. Without a card,
    the cabinet starts by linking one or getting a virtual one."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        member = Member.objects.filter(user=signed_in_user(request)).first()
        if member is None:
            return HttpResponseRedirect(reverse("cabinet-start"))
        return view(request, member, *args, **kwargs)

    return wrapper


@require_GET
@member_view
def home(request: HttpRequest, member: Member) -> HttpResponse:
    now = timezone.now()
    card = member_card(member)
    return render(
        request,
        "cabinet/home.html",
        {
            "member": member,
            "balance": cabinet_balance(member, now),
            "progress": member_tier_progress(member.pk, now),
            "benefits": member_benefits(member.pk),
            "card": card,
            "card_barcode": barcode_svg(card.number) if card else "",
            "card_qr": qr_svg(card.number) if card else "",
        },
    )


@require_GET
@login_required
def start(request: HttpRequest) -> HttpResponse:
    if Member.objects.filter(user=signed_in_user(request)).exists():
        return HttpResponseRedirect(reverse("cabinet-home"))
    return render(request, "cabinet/start.html", {})


@require_POST
@login_required
def virtual_card(request: HttpRequest) -> HttpResponse:
    try:
        virtual_card_issue(
            user=signed_in_user(request),
            referral_code=request.session.get(REFERRAL_SESSION_KEY, ""),
        )
    except LoyaltyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Your virtual card is ready. Show it at the till."))
    return HttpResponseRedirect(reverse("cabinet-home"))


@require_http_methods(["GET", "POST"])
@login_required
def link_card(request: HttpRequest) -> HttpResponse:
    """Step 1: the card number; a code goes to the phone or email on the card."""
    error = ""
    if request.method == "POST":
        try:
            link = card_link_start(
                user=signed_in_user(request), card_number=request.POST.get("card", "")
            )
        except LoyaltyError as refusal:
            error = refusal.message
        else:
            return HttpResponseRedirect(reverse("cabinet-link-confirm", args=[link.pk]))
    return render(
        request,
        "cabinet/link_card.html",
        {"error": error, "card": request.POST.get("card", "")},
        status=422 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def link_card_confirm(request: HttpRequest, link_id: int) -> HttpResponse:
    """Step 2: the code typed back links the card's member to this account."""
    link = CardLinkCode.objects.filter(pk=link_id, user=signed_in_user(request)).first()
    if link is None:
        raise Http404
    error = ""
    if request.method == "POST":
        try:
            card_link_confirm(
                user=signed_in_user(request), link_id=link.pk, code=request.POST.get("code", "")
            )
        except LoyaltyError as refusal:
            error = refusal.message
        else:
            messages.success(request, _("Your card is linked."))
            return HttpResponseRedirect(reverse("cabinet-home"))
    return render(
        request,
        "cabinet/link_confirm.html",
        {"link": link, "error": error},
        status=422 if error else 200,
    )


def _page_number(request: HttpRequest) -> int:
    text = request.GET.get("page", "")
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


def _date_param(request: HttpRequest, name: str) -> date | None:
    try:
        return date.fromisoformat(request.GET.get(name, ""))
    except ValueError:
        return None


@require_GET
@member_view
def history(request: HttpRequest, member: Member) -> HttpResponse:
    kind = request.GET.get("kind", "")
    start, end = _date_param(request, "from"), _date_param(request, "to")
    transfers = member_history(member, kind=kind, start=start, end=end)
    page = history_page(member, transfers, number=_page_number(request), size=HISTORY_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cabinet/history.html",
        {
            "page": page,
            "kinds": [(key, label) for key, (label, _codes) in HISTORY_KINDS.items()],
            "kind": kind,
            "start": start,
            "end": end,
            "query": query.urlencode(),
        },
    )


@require_GET
@member_view
def rewards(request: HttpRequest, member: Member) -> HttpResponse:
    balance = cabinet_balance(member, timezone.now())
    items = reward_catalogue(balance.available, timezone.now())
    return render(
        request,
        "cabinet/rewards.html",
        {"items": items, "balance": balance, "tiers": tier_snapshot()},
    )


@require_http_methods(["GET", "POST"])
@member_view
def reward_detail(request: HttpRequest, member: Member, reward_id: int) -> HttpResponse:
    """The confirmation step: what the reward costs and gives; POST redeems it."""
    reward = Reward.objects.filter(pk=reward_id, is_active=True).first()
    if reward is None:
        raise Http404
    now = timezone.now()
    balance = cabinet_balance(member, now)
    if request.method == "POST":
        try:
            reward_redeem_answer(
                member_id=member.pk, reward_id=reward.pk, key=request.POST.get("key") or None
            )
        except LoyaltyError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Done! Your voucher is below."))
            return HttpResponseRedirect(reverse("cabinet-vouchers"))
    check = reward_redeem_check(reward, member_id=member.pk, available=balance.available, now=now)
    return render(
        request,
        "cabinet/reward_detail.html",
        {"reward": reward, "balance": balance, "check": check, "key": uuid.uuid4().hex},
    )


@require_GET
@member_view
def vouchers(request: HttpRequest, member: Member) -> HttpResponse:
    now = timezone.now()
    shown = []
    for voucher in member_vouchers(member)[:50]:
        usable = voucher.status == voucher.Status.ACTIVE and voucher.valid_until > now
        barcode = barcode_svg(voucher.code) if usable else ""
        shown.append({"voucher": voucher, "usable": usable, "barcode": barcode})
    return render(request, "cabinet/vouchers.html", {"vouchers": shown})


@require_GET
@member_view
def badges(request: HttpRequest, member: Member) -> HttpResponse:
    progress = member_badges(member, timezone.now())
    earned = sum(1 for item in progress if item.earned_at)
    return render(
        request,
        "cabinet/badges.html",
        {"badges": progress, "earned": earned, "total": len(progress)},
    )


@require_GET
@member_view
def roadmap(request: HttpRequest, member: Member) -> HttpResponse:
    now = timezone.now()
    balance = cabinet_balance(member, now)
    milestones = member_roadmap(member, now, balance.available)
    return render(
        request,
        "cabinet/roadmap.html",
        {
            "milestones": milestones,
            "balance": balance,
            "done": sum(1 for milestone in milestones if milestone.done),
        },
    )


@require_http_methods(["GET", "POST"])
@member_view
def leaderboard(request: HttpRequest, member: Member) -> HttpResponse:
    """The opt-in leaderboard; POST joins (with a display name) or leaves it."""
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "leave":
            leaderboard_leave(member)
            messages.success(request, _("You are off the leaderboard."))
            return HttpResponseRedirect(reverse("cabinet-leaderboard"))
        try:
            leaderboard_join(member, request.POST.get("name", ""))
        except LoyaltyError as refusal:
            error = refusal.message
        else:
            messages.success(request, _("You are on the leaderboard from its next update."))
            return HttpResponseRedirect(reverse("cabinet-leaderboard"))
    board = request.GET.get("board", LeaderboardEntry.Board.MONTH)
    if board not in LeaderboardEntry.Board.values:
        board = LeaderboardEntry.Board.MONTH
    member.refresh_from_db(fields=["leaderboard_opt_in", "leaderboard_name"])
    return render(
        request,
        "cabinet/leaderboard.html",
        {
            "member": member,
            "board": board,
            "boards": LeaderboardEntry.Board.choices,
            "standing": leaderboard_board(board, member),
            "error": error,
        },
    )


@require_GET
def join(request: HttpRequest, code: str) -> HttpResponse:
    """A friend's invitation link: remember the code, then sign up."""
    request.session[REFERRAL_SESSION_KEY] = code[:12]
    return HttpResponseRedirect(reverse("account_signup"))


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = [
            "full_name",
            "email",
            "birth_date",
            "consent_email",
            "consent_sms",
            "consent_push",
            "language",
        ]
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        labels = {"language": gettext_lazy("Language of our messages")}


@require_http_methods(["GET", "POST"])
@member_view
def profile(request: HttpRequest, member: Member) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=member)
    if request.method == "POST" and form.is_valid():
        change = ProfileChange(
            **{name: form.cleaned_data[name] for name in ProfileForm.Meta.fields}
        )
        bonus = profile_update(member=member, change=change)
        messages.success(request, _("Saved."))
        if bonus:
            messages.success(
                request,
                _("Thank you for completing your profile: +%(points)d points.") % {"points": bonus},
            )
        return HttpResponseRedirect(reverse("cabinet-profile"))
    invite_path = reverse("cabinet-join", args=[member.referral_code])
    invite = request.build_absolute_uri(invite_path)
    return render(
        request,
        "cabinet/profile.html",
        {
            "form": form,
            "member": member,
            "invite_url": invite,
            "referrals": referral_results(member),
        },
    )


@require_GET
@member_view
def data_export(request: HttpRequest, member: Member) -> HttpResponse:
    response = JsonResponse(member_data_export(member), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="my-loyalty-data.json"'
    return response


@require_http_methods(["GET", "POST"])
@member_view
def account_delete(request: HttpRequest, member: Member) -> HttpResponse:
    """Deleting needs the password again: a borrowed phone must not be enough."""
    user = signed_in_user(request)
    error = ""
    if request.method == "POST":
        if user.check_password(request.POST.get("password", "")):
            member_anonymise(member=member, user=user)
            logout(request)
            messages.success(request, _("Your account was deleted. Thank you for being with us."))
            return HttpResponseRedirect(reverse("account_login"))
        error = _("The password is not right.")
    return render(request, "cabinet/delete.html", {"error": error}, status=422 if error else 200)
