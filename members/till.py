"""What a cashier does at the till, each step audited.

Thin on purpose: cards, purchases and refunds go through the same services as
the POS API. The till adds who is at it (a cashier tied to one outlet), the
rule that a cashier never credits points to a card on their own phone, and a
`TillAction` row for every step.
"""

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from loyalty.answers import purchase_record_answer, refund_record_answer
from loyalty.exceptions import CardNotFound, Conflict, NotFound
from loyalty.idempotency import Answer
from loyalty.models import Purchase
from rewards.api import voucher_use_answer
from rewards.selectors import (
    VoucherNotFound,
    voucher_by_code,
    voucher_code_like,
)

from .models import Card, CardClaim, Cashier, Member, TillAction
from .selectors import member_by_card, member_by_card_or_phone, member_usable_card
from .services import CardIssueResult, card_claim_confirm, card_issue, phone_validate


def cashier_of(user: AbstractBaseUser | AnonymousUser) -> Cashier:
    """The active cashier profile of a signed-in user; anyone else is refused."""
    cashier = getattr(user, "cashier", None) if user.is_authenticated else None
    if cashier is None or not cashier.is_active:
        raise PermissionDenied(_("This login is not a cashier's."))
    return cashier


def _audit(
    cashier: Cashier,
    kind: str,
    *,
    member: Member | None = None,
    card_number: str = "",
    **details: Any,
) -> None:
    TillAction.objects.create(
        cashier=cashier.user,
        outlet=cashier.outlet,
        kind=kind,
        member=member,
        card_number=card_number,
        details=details,
    )


@dataclass
class Found:
    member: Member | None
    card: Card | None
    query: str


def till_find(cashier: Cashier, query: str) -> Found:
    """The member behind a scanned card, a typed phone or a voucher code (None: nobody)."""
    query = query.strip()
    _lookups_allow(cashier)
    try:
        if voucher_code_like(query):
            member, card = _voucher_holder(query)
        else:
            member, card = member_by_card_or_phone(query)
    except CardNotFound:
        _audit(cashier, TillAction.Kind.LOOKUP, query=query, found=False)
        return Found(None, None, query)
    _audit(cashier, TillAction.Kind.LOOKUP, member=member, card_number=card.number if card else "")
    return Found(member, card, query)


def _lookups_allow(cashier: Cashier) -> None:
    """TILL_LOOKUPS_PER_MINUTE searches a minute per cashier, as API keys have a lookup
    budget: a till is no faster way to walk through phones and card numbers."""
    window = f"till-lookups:{cashier.pk}:{int(time.time() // 60)}"
    cache.add(window, 0, timeout=120)
    if cache.incr(window) > settings.TILL_LOOKUPS_PER_MINUTE:
        _audit(cashier, TillAction.Kind.REFUSED, reason="too many searches")
        raise Conflict(_("Too many searches at this till in a minute; wait a moment."))


def _voucher_holder(code: str) -> tuple[Member, Card | None]:
    try:
        voucher = voucher_by_code(code)
    except VoucherNotFound:
        raise CardNotFound() from None
    return voucher.member, member_usable_card(voucher.member)


def _refuse_own_card(cashier: Cashier, phone: str | None, card_number: str) -> None:
    if cashier.phone and phone == cashier.phone:
        _audit(cashier, TillAction.Kind.REFUSED, card_number=card_number, reason="own card")
        raise Conflict(_("A cashier cannot credit points to a card on their own phone."))


def till_issue(cashier: Cashier, *, card_number: str, phone: str, name: str) -> CardIssueResult:
    """Hand a blank card to a new or existing member (phone required, name optional)."""
    _refuse_own_card(cashier, phone_validate(phone), card_number)
    result = card_issue(
        partner=cashier.outlet.partner,
        card_number=card_number,
        phone=phone,
        full_name=name,
        outlet=cashier.outlet,
        issued_by=cashier.user,
    )
    _audit(
        cashier,
        TillAction.Kind.ISSUE,
        member=result.member,
        card_number=result.card.number,
        new_member=result.created,
        waiting_for_code=result.claim is not None,
    )
    return result


def till_claim_waiting(cashier: Cashier, card_number: str) -> CardClaim | None:
    """The card confirmation this outlet is waiting for on this card, if any."""
    return (
        CardClaim.objects.filter(
            partner=cashier.outlet.partner,
            outlet=cashier.outlet,
            card_number=card_number,
            used_at__isnull=True,
        )
        .order_by("-created_at")
        .first()
    )


def till_issue_confirm(cashier: Cashier, *, card_number: str, code: str) -> Card:
    """The code the member received: the card asked for at this outlet becomes theirs."""
    card = card_claim_confirm(
        partner=cashier.outlet.partner,
        outlet=cashier.outlet,
        card_number=card_number,
        code=code,
    )
    _audit(
        cashier, TillAction.Kind.ISSUE, member=card.member, card_number=card.number, confirmed=True
    )
    return card


def till_purchase(
    cashier: Cashier,
    *,
    card_number: str,
    receipt_id: str,
    amount: Decimal,
    redeem_points: int,
    key: str,
) -> Answer:
    """Record a receipt at this outlet: earn, and pay part with points if asked."""
    member, _card = member_by_card(card_number)
    _refuse_own_card(cashier, member.phone, card_number)
    result = purchase_record_answer(
        partner=cashier.outlet.partner,
        outlet=cashier.outlet,
        key=key,
        card_number=card_number,
        receipt_id=receipt_id,
        amount=amount,
        items=[],
        redeem_points=redeem_points,
    )
    _audit(
        cashier,
        TillAction.Kind.PURCHASE,
        member=member,
        card_number=card_number,
        receipt_id=receipt_id,
        amount=str(amount),
        points_earned=result.body["points_earned"],
        points_redeemed=result.body["points_redeemed"],
    )
    return result


def till_refund(cashier: Cashier, *, receipt_id: str, amount: Decimal, key: str) -> Answer:
    """A return against a receipt of this outlet's company, found by its number."""
    purchase = (
        Purchase.objects.filter(partner=cashier.outlet.partner, receipt_id=receipt_id.strip())
        .select_related("card", "member")
        .first()
    )
    if purchase is None:
        raise NotFound(_("No purchase with this receipt number."))
    result = refund_record_answer(
        partner=cashier.outlet.partner, outlet=None, key=key, purchase_id=purchase.pk, amount=amount
    )
    _audit(
        cashier,
        TillAction.Kind.REFUND,
        member=purchase.member,
        card_number=purchase.card.number,
        receipt_id=purchase.receipt_id,
        amount=str(amount),
        points_reversed=result.body["points_reversed"],
        points_returned=result.body["points_returned"],
    )
    return result


def till_voucher_use(cashier: Cashier, *, code: str, receipt_id: str, key: str) -> Answer:
    """Take a voucher against a receipt; the discount itself is given by the POS."""
    result = voucher_use_answer(
        partner=cashier.outlet.partner,
        outlet=cashier.outlet,
        key=key,
        code=code,
        receipt_id=receipt_id,
    )
    voucher = voucher_by_code(code)
    _audit(
        cashier,
        TillAction.Kind.VOUCHER,
        member=voucher.member,
        voucher=voucher.display_code,
        receipt_id=receipt_id,
        title=voucher.title,
    )
    return result
