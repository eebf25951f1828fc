"""Reads of the reward catalogue and vouchers."""

from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.exceptions import NotFound
from members.models import Member

from .models import Voucher

# 32 symbols without the look-alikes 0/O and 1/I: read out loud or typed from
# a phone screen without mistakes. 12 of them are 60 random bits.
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
VOUCHER_CODE_LENGTH = 12


class VoucherNotFound(NotFound):
    # Unknown codes and codes of other members answer alike, so codes cannot be probed.
    default_message = gettext_lazy("Voucher not found.")
    error_code = "voucher_not_found"


def voucher_code_normalize(raw: str) -> str:
    """`abcd-efgh jkmn` as typed or scanned → `ABCDEFGHJKMN`."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def voucher_code_like(text: str) -> bool:
    """Whether a till search looks like a voucher code rather than a card or a phone."""
    code = voucher_code_normalize(text)
    return len(code) == VOUCHER_CODE_LENGTH and any(ch.isalpha() for ch in code)


def vouchers_usable(member_id: int, now: datetime) -> list[Voucher]:
    """The member's vouchers the till can take now, soonest to expire first."""
    return list(
        Voucher.objects.filter(
            member_id=member_id, status=Voucher.Status.ACTIVE, valid_until__gt=now
        ).order_by("valid_until", "id")
    )


def voucher_by_code(raw: str) -> Voucher:
    voucher = (
        Voucher.objects.select_related("member").filter(code=voucher_code_normalize(raw)).first()
    )
    if voucher is None:
        raise VoucherNotFound()
    return voucher


def voucher_refusal(voucher: Voucher, now: datetime) -> str | None:
    """Why the till cannot take this voucher now, or None when it can."""
    if voucher.status == Voucher.Status.USED:
        return _("This voucher was already used.")
    if voucher.status == Voucher.Status.EXPIRED or voucher.valid_until <= now:
        return _("This voucher has expired.")
    if voucher.member.status != Member.Status.ACTIVE:
        return _("The voucher's member is blocked.")
    return None
