"""Writes of the reward catalogue: redeeming rewards, personal offers, using vouchers.

Locks: a redemption takes the member's accounts, then the reward row (its
stock), so members redeeming the same reward queue on that row only after
their own checks passed. Using a voucher locks only the voucher row; expiry
locks voucher rows, then their members' accounts in ascending member order.
No path holds accounts while waiting for a voucher, so the orders never cross.
"""

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import Conflict, InvalidRequest, NotFound
from loyalty.ledger import (
    Code,
    Kind,
    available_credit,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from loyalty.program import points_expire_at, program_settings
from members.models import Member
from partners.models import Outlet, Partner
from partners.selectors import operator_partner

from .models import Reward, Voucher
from .selectors import (
    VOUCHER_ALPHABET,
    VOUCHER_CODE_LENGTH,
    VoucherNotFound,
    reward_redeem_check,
    voucher_code_normalize,
    voucher_refusal,
)


def voucher_code_new() -> str:
    return "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_CODE_LENGTH))


def _voucher_create(**fields: Any) -> Voucher:
    """Insert a voucher under a fresh random code (a collision, about 1 in 2^60, retries)."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Voucher.objects.create(code=voucher_code_new(), **fields)
        except IntegrityError:
            continue
    raise RuntimeError("could not draw a free voucher code")


def reward_redeem(
    *,
    member_id: int,
    reward_id: int,
    now: datetime | None = None,
) -> Voucher:
    """Buy a reward with points: debit them (FIFO lots) and issue its voucher."""
    with transaction.atomic():
        return _reward_redeem_locked(
            member_id, reward_id, operator_partner(), now or timezone.now()
        )


def _reward_redeem_locked(
    member_id: int, reward_id: int, operator: Partner, now: datetime
) -> Voucher:
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise NotFound(_("No such reward."))
    accounts = member_accounts_lock(member_id)
    if not Member.objects.filter(pk=member_id, status=Member.Status.ACTIVE).exists():
        raise Conflict(_("Only an active member can redeem rewards."))
    reward_redeem_check(
        reward, member_id=member_id, available=accounts.available.balance, now=now
    ).raise_refusal()
    _stock_take(reward)
    transfer = transfer_post(
        debit=accounts.available,
        credit=system_account(Kind.REDEEMED, operator),
        amount=reward.point_cost,
        code=Code.REWARD,
        reference=f"reward:{reward.pk}",
        now=now,
    )
    return _voucher_create(
        member_id=member_id,
        reward=reward,
        source=Voucher.Source.REDEMPTION,
        title=reward.name_en or reward.name,
        kind=reward.kind,
        discount_percent=reward.discount_percent,
        discount_amount=reward.discount_amount,
        points_spent=reward.point_cost,
        issued_at=now,
        valid_until=now + timedelta(days=reward.voucher_valid_days),
        redemption_transfer=transfer,
    )


def _stock_take(reward: Reward) -> None:
    """Take one item; the conditional update queues concurrent takers on the row."""
    if reward.stock is None:
        return
    taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1)
    if not taken:
        raise Conflict(_("This reward is out of stock."))


def personal_offer_issue(
    *,
    member: Member,
    title: str,
    valid_days: int,
    discount_percent: Decimal | None = None,
    discount_amount: Decimal | None = None,
    issued_by: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> Voucher:
    """A time-limited discount for one member, free of points (staff or a journey)."""
    if (discount_percent is None) == (discount_amount is None):
        raise InvalidRequest(_("A personal offer gives either a percent or an amount off."))
    if not title.strip() or valid_days < 1:
        raise InvalidRequest(_("A personal offer needs a title and at least one day."))
    now = now or timezone.now()
    kind = Reward.Kind.PERCENT_DISCOUNT if discount_percent else Reward.Kind.FIXED_DISCOUNT
    return _voucher_create(
        member=member,
        source=Voucher.Source.PERSONAL_OFFER,
        title=title.strip(),
        kind=kind,
        discount_percent=discount_percent,
        discount_amount=discount_amount,
        issued_at=now,
        valid_until=now + timedelta(days=valid_days),
        issued_by=issued_by,
    )


def voucher_use(
    *,
    partner: Partner,
    code: str,
    outlet: Outlet | None = None,
    receipt_id: str = "",
    now: datetime | None = None,
) -> Voucher:
    """The till consumes a voucher: exactly once, whoever asks at the same moment."""
    code = voucher_code_normalize(code)
    with transaction.atomic():
        now = now or timezone.now()
        voucher = (
            Voucher.objects.select_for_update(of=("self",))
            .select_related("member")
            .filter(code=code)
            .first()
        )
        if voucher is None:
            raise VoucherNotFound()
        refusal = voucher_refusal(voucher, now)
        if refusal is not None:
            raise Conflict(refusal)
        voucher.status = Voucher.Status.USED
        voucher.used_at = now
        voucher.used_partner = partner
        voucher.used_outlet = outlet
        voucher.used_receipt_id = receipt_id
        voucher.save(
            update_fields=["status", "used_at", "used_partner", "used_outlet", "used_receipt_id"]
        )
        return voucher


def vouchers_expire_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Close vouchers past their date; give points back if the program says so."""
    now = now or timezone.now()
    refund = program_settings().refund_expired_vouchers
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                Voucher.objects.select_for_update(skip_locked=True)
                .filter(status=Voucher.Status.ACTIVE, valid_until__lte=now)
                .order_by("member_id", "id")[:batch_size]
            )
            if not due:
                return expired
            for voucher in due:
                _voucher_expire(voucher, refund=refund, now=now)
            expired += len(due)


def _voucher_expire(voucher: Voucher, *, refund: bool, now: datetime) -> None:
    voucher.status = Voucher.Status.EXPIRED
    if refund and voucher.points_spent:
        # Credited as new points (repaying any debt first), expiring by the policy.
        available_credit(
            accounts=member_accounts_lock(voucher.member_id),
            source=system_account(Kind.REDEEMED, operator_partner()),
            amount=voucher.points_spent,
            code=Code.VOUCHER_REFUND,
            expires_at=points_expire_at(program_settings(), now),
            reference=f"voucher:{voucher.pk}",
            now=now,
        )
        voucher.points_returned = voucher.points_spent
    voucher.save(update_fields=["status", "points_returned"])
