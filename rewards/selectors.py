"""Reads of the reward catalogue and vouchers."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.exceptions import Conflict, InsufficientPoints, LookupMiss
from loyalty.program import program_settings
from loyalty.tiers import member_benefits
from members.models import Member

from .models import Reward, Voucher

# 32 symbols without the look-alikes 0/O and 1/I: read out loud or typed from
# a phone screen without mistakes. 12 of them are 60 random bits.
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
VOUCHER_CODE_LENGTH = 12


class VoucherNotFound(LookupMiss):
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


def reward_available(reward: Reward, now: datetime) -> bool:
    """Shown and open: active, inside its window, with stock left."""
    return (
        reward.is_active
        and (reward.available_from is None or reward.available_from <= now)
        and (reward.available_until is None or now < reward.available_until)
        and (reward.stock is None or reward.stock > 0)
    )


@dataclass(frozen=True)
class RedeemCheck:
    """Why a member cannot redeem a reward now, or None when they can."""

    refusal: str | None
    short_of_points: bool = False

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def raise_refusal(self) -> None:
        if self.refusal is not None:
            raise (InsufficientPoints if self.short_of_points else Conflict)(self.refusal)


def reward_redeem_check(
    reward: Reward, *, member_id: int, available: int, now: datetime
) -> RedeemCheck:
    """Every rule but stock, which is decided under the reward's row lock."""
    if not reward_available(reward, now):
        return RedeemCheck(_("This reward is not available now."))
    tier_ids = {tier.pk for tier in reward.tiers.all()}
    if tier_ids and not tier_ids & member_benefits(member_id).tier_ids:
        return RedeemCheck(_("This reward is for members of a higher tier."))
    if reward.per_member_limit is not None:
        taken = Voucher.objects.filter(
            member_id=member_id, reward=reward, points_returned=0
        ).count()
        if taken >= reward.per_member_limit:
            return RedeemCheck(
                _("You have already redeemed this reward the most times allowed (%(limit)d).")
                % {"limit": reward.per_member_limit}
            )
    minimum = max(reward.point_cost, program_settings().min_balance_to_redeem)
    if available < minimum:
        return RedeemCheck(
            _("Not enough points: %(available)d available, %(cost)d needed.")
            % {"available": available, "cost": minimum},
            short_of_points=True,
        )
    return RedeemCheck(None)
