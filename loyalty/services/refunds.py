"""Refunds: redeemed points returned and earned points reversed in proportion, each
funder's share on its own, what the member already spent booked as debt."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Outlet, Partner

from ..exceptions import (
    InvalidRequest,
    NotFound,
)
from ..ledger import (
    Code,
    Kind,
    MemberAccounts,
    available_credit,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from ..models import (
    Account,
    Lot,
    Purchase,
    Refund,
)
from ..program import (
    points_expire_at,
    program_settings,
)
from ..selectors import (
    ShortBalance,
    accounts_short_balance,
)
from ..tier_moves import tier_moves_announce
from ..tiers import (
    activity_add,
    member_tiers_lock,
    member_tiers_recalculate,
    tier_snapshot,
)
from .purchases import purchase_earned_shares


@dataclass(frozen=True)
class RefundRecorded:
    """A refund as recorded, with the member's balance after it."""

    refund: Refund
    balance: ShortBalance


def _proportional_share(points: int, refunded: Decimal, total: Decimal) -> int:
    """Points attributable to `refunded` of `total`, rounded down (full refund = all)."""
    if refunded >= total:
        return points
    return int((Decimal(points) * refunded / total).to_integral_value(rounding=ROUND_FLOOR))


def refund_record(
    *,
    partner: Partner,
    purchase_id: int,
    amount: Decimal,
    outlet: Outlet | None = None,
    now: datetime | None = None,
) -> RefundRecorded:
    """Refund part or all of a purchase.

    Redeemed points are returned in proportion; earned points are reversed in
    proportion, from the purchase's pending points first, then from available
    points, and whatever the member already spent is booked as debt that
    future credits repay.
    """
    with transaction.atomic():
        # Lock order everywhere: the purchase row, then the member's accounts.
        purchases = Purchase.objects.select_for_update(of=("self",)).select_related("partner")
        purchases = purchases.filter(pk=purchase_id, partner=partner)
        if outlet is not None:
            purchases = purchases.filter(outlet=outlet)  # a key of one outlet: its receipts
        purchase = purchases.first()
        if purchase is None:
            raise NotFound(_("Purchase not found."))
        refundable = purchase.amount - purchase.refunded_amount
        if amount <= 0:
            raise InvalidRequest(_("Refund amount must be positive."), field="amount")
        if amount > refundable:
            raise InvalidRequest(
                _("At most %(amount)s can still be refunded on this receipt.")
                % {"amount": refundable},
                field="amount",
            )
        return _refund_apply(purchase, amount, now or timezone.now())


def _refund_apply(purchase: Purchase, amount: Decimal, now: datetime) -> RefundRecorded:
    accounts = member_accounts_lock(purchase.member_id)
    refunded_total = purchase.refunded_amount + amount
    # Each funder's share is reversed in proportion on its own, so that over all
    # refunds of a receipt every partner gets back exactly what it paid for.
    reversals = [
        (
            funder,
            _proportional_share(points, refunded_total, purchase.amount)
            - _proportional_share(points, purchase.refunded_amount, purchase.amount),
        )
        for funder, points in purchase_earned_shares(purchase)
    ]
    reverse = sum(points for _funder, points in reversals)
    give_back = (
        _proportional_share(purchase.points_redeemed, refunded_total, purchase.amount)
        - purchase.points_returned
    )
    refund = Refund.objects.create(
        purchase=purchase,
        amount=amount,
        points_reversed=reverse,
        points_returned=give_back,
        created_at=now,
    )
    if give_back:
        available_credit(
            accounts=accounts,
            source=system_account(Kind.REDEEMED, purchase.partner),
            amount=give_back,
            code=Code.REFUND_RETURN,
            expires_at=points_expire_at(program_settings(), now),
            purchase=purchase,
            refund=refund,
            now=now,
        )
    debt = sum(
        _earned_points_reverse(accounts, purchase, refund, funder, points, now)
        for funder, points in reversals
        if points
    )
    if debt:
        Refund.objects.filter(pk=refund.pk).update(debt_booked=debt)
        refund.debt_booked = debt
    _refund_activity_subtract(purchase, amount, refunded_total, reverse, now)
    Purchase.objects.filter(pk=purchase.pk).update(
        refunded_amount=refunded_total,
        points_reversed=F("points_reversed") + reverse,
        points_returned=F("points_returned") + give_back,
    )
    return RefundRecorded(refund, accounts_short_balance(accounts))


def _refund_activity_subtract(
    purchase: Purchase,
    amount: Decimal,
    refunded_total: Decimal,
    reversed_points: int,
    now: datetime,
) -> None:
    """Take a refund off the counters tiers qualify on and the leaderboard ranks by, and
    recalculate the member's tiers.

    The spend and points come off the purchase's own day; a receipt refunded in
    full no longer counts as a purchase.
    """
    activity_add(
        member_id=purchase.member_id,
        day=timezone.localtime(purchase.created_at).date(),
        spend=-amount,
        purchases=-1 if refunded_total >= purchase.amount else 0,
        points=-reversed_points,
    )
    if tier_snapshot().tiers:
        rows = member_tiers_lock(purchase.member_id)
        tier_moves_announce(member_tiers_recalculate(purchase.member_id, rows, now))


def _earned_points_reverse(
    accounts: MemberAccounts,
    purchase: Purchase,
    refund: Refund,
    funder: Partner,
    points: int,
    now: datetime,
) -> int:
    """Take back `points` of those `funder` paid for on `purchase`; return the part
    booked as debt."""
    issued = system_account(Kind.ISSUED, funder)
    left = points
    pending_lot = Lot.objects.filter(
        account=accounts.pending,
        transfer__purchase=purchase,
        transfer__code=Code.PURCHASE_EARN,
        transfer__debit_account=issued,
        remaining__gt=0,
    ).first()
    # From the purchase's own pending points, then available points, then debt.
    sources: list[tuple[Account, int, Lot | None]] = []
    if pending_lot is not None:
        sources.append((accounts.pending, pending_lot.remaining, pending_lot))
    sources.append((accounts.available, accounts.available.balance, None))
    for account, covers, lot in sources:
        take = min(covers, left)
        if take:
            transfer_post(
                debit=account,
                credit=issued,
                amount=take,
                code=Code.REFUND_REVERSAL,
                from_lot=lot,
                purchase=purchase,
                refund=refund,
                now=now,
            )
            left -= take
    if left:
        transfer_post(
            debit=accounts.debt,
            credit=issued,
            amount=left,
            code=Code.DEBT,
            purchase=purchase,
            refund=refund,
            now=now,
        )
    return left
