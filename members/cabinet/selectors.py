"""Reads of the customer cabinet: balance, card, history, rewards, always for one member."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Min, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from loyalty.ledger import Code, Kind
from loyalty.models import Account, EventAward, EventBonus, Lot, MemberBadge, Transfer
from rewards.models import Reward, Voucher
from rewards.selectors import reward_available

from ..models import Card, Member

EXPIRY_HORIZON = timedelta(days=30)

# History filters: what a customer calls each kind of movement.
HISTORY_KINDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "earned": (
        _("Earned"),
        (
            Code.PURCHASE_EARN,
            Code.BONUS,
            Code.BADGE,
            Code.PARTNER_EARN,
            Code.MIGRATION,
            Code.RELEASE,
        ),
    ),
    "spent": (_("Spent"), (Code.REDEMPTION, Code.REWARD, Code.PARTNER_BURN)),
    "expired": (_("Expired"), (Code.EXPIRY,)),
    "returns": (
        _("Returns"),
        (
            Code.REFUND_REVERSAL,
            Code.REFUND_RETURN,
            Code.DEBT,
            Code.DEBT_REPAYMENT,
            Code.VOUCHER_REFUND,
        ),
    ),
    "adjustments": (_("Corrections"), (Code.ADJUSTMENT,)),
}


@dataclass(frozen=True)
class CabinetBalance:
    available: int
    pending: int
    debt: int
    next_release: date | None
    next_release_points: int
    expiring_soon: int
    expiring_first: date | None


def cabinet_balance(member: Member, now: datetime) -> CabinetBalance:
    """Balances, when pending points arrive and what expires within 30 days (3 queries)."""
    balances = dict(Account.objects.filter(member=member).values_list("kind", "balance"))
    lots = Lot.objects.filter(account__member=member, remaining__gt=0)
    first_release = lots.filter(account__kind=Kind.PENDING).aggregate(first=Min("release_at"))
    release_day = first_release["first"]
    release_points = 0
    if release_day is not None:
        release_points = (
            lots.filter(account__kind=Kind.PENDING, release_at__date=release_day.date()).aggregate(
                points=Sum("remaining")
            )["points"]
            or 0
        )
    expiring = lots.filter(
        account__kind=Kind.AVAILABLE, expires_at__isnull=False, expires_at__lte=now + EXPIRY_HORIZON
    ).aggregate(points=Sum("remaining"), first=Min("expires_at"))
    return CabinetBalance(
        available=balances[Kind.AVAILABLE],
        pending=balances[Kind.PENDING],
        debt=balances[Kind.DEBT],
        next_release=release_day.date() if release_day else None,
        next_release_points=release_points,
        expiring_soon=expiring["points"] or 0,
        expiring_first=expiring["first"].date() if expiring["first"] else None,
    )


def member_card(member: Member) -> Card | None:
    """The card to show: a usable plastic card first, else the virtual one."""
    return (
        Card.objects.filter(member=member, status__in=Card.USABLE)
        .order_by("is_virtual", "-issued_at", "id")
        .first()
    )


@dataclass(frozen=True)
class HistoryEntry:
    transfer: Transfer
    points: int  # signed: what the member's total did
    pending: bool  # the points went to or came from pending

    @property
    def code(self) -> str:
        return self.transfer.code


def member_history(
    member: Member, *, kind: str = "", start: date | None = None, end: date | None = None
) -> QuerySet[Transfer]:
    """The member's transfers, newest first, filtered by kind and by dates (inclusive)."""
    account_ids = list(Account.objects.filter(member=member).values_list("id", flat=True))
    transfers = Transfer.objects.filter(
        Q(debit_account_id__in=account_ids) | Q(credit_account_id__in=account_ids)
    )
    if kind in HISTORY_KINDS:
        transfers = transfers.filter(code__in=HISTORY_KINDS[kind][1])
    if start is not None:
        transfers = transfers.filter(created_at__date__gte=start)
    if end is not None:
        transfers = transfers.filter(created_at__date__lte=end)
    return transfers.order_by("-created_at", "-id")


@dataclass(frozen=True)
class HistoryPage:
    number: int
    entries: list[HistoryEntry]
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def history_page(
    member: Member, transfers: QuerySet[Transfer], *, number: int, size: int
) -> HistoryPage:
    """One page of `transfers` (from `member_history`), newest first.

    Nothing is counted (a member may have 100,000 transfers): the page's ids
    come from a top-N over the transfer table alone, one more than a page to
    know whether another follows, then those rows are read with their joins.
    """
    number = max(number, 1)
    offset = (number - 1) * size
    ids = list(transfers.values_list("id", flat=True)[offset : offset + size + 1])
    rows = (
        Transfer.objects.filter(id__in=ids[:size])
        .select_related("purchase__outlet", "debit_account", "credit_account")
        .order_by("-created_at", "-id")
    )
    entries = [history_entry(transfer, member.pk) for transfer in rows]
    return HistoryPage(number=number, entries=entries, has_next=len(ids) > size)


def history_entry(transfer: Transfer, member_id: int) -> HistoryEntry:
    """One transfer as the member sees it: the signed change to what they hold.

    A credit to any of the member's accounts adds to their net points (to the
    debt account it repays what they owe), a debit takes away; a release from
    pending to available is both, so it nets to zero.
    """
    debit, credit = transfer.debit_account, transfer.credit_account
    sign = (credit.member_id == member_id) - (debit.member_id == member_id)
    pending = any(
        account.member_id == member_id and account.kind == Kind.PENDING
        for account in (debit, credit)
    )
    return HistoryEntry(transfer=transfer, points=sign * transfer.amount, pending=pending)


@dataclass(frozen=True)
class CatalogueItem:
    reward: Reward
    affordable: bool
    missing: int  # points still to collect (0 when affordable)


def reward_catalogue(available: int, now: datetime) -> list[CatalogueItem]:
    """Rewards open now, cheapest first, with what the member can afford."""
    rewards = Reward.objects.filter(is_active=True).prefetch_related("tiers")
    return [
        CatalogueItem(reward, reward.point_cost <= available, max(reward.point_cost - available, 0))
        for reward in rewards
        if reward_available(reward, now)
    ]


def member_vouchers(member: Member) -> QuerySet[Voucher]:
    return (
        Voucher.objects.filter(member=member).select_related("reward").order_by("-issued_at", "-id")
    )


@dataclass(frozen=True)
class ReferralResults:
    invited: int
    purchased: int
    points: int


def referral_results(member: Member) -> ReferralResults:
    """Friends who joined with the member's code, those who bought, and the points earned."""
    friends = Member.objects.filter(referred_by=member)
    points = EventAward.objects.filter(
        member=member, event=EventBonus.Event.REFERRAL, period__startswith="referred:"
    ).aggregate(points=Sum("points"))["points"]
    return ReferralResults(
        invited=friends.count(),
        purchased=friends.filter(purchases__isnull=False).distinct().count(),
        points=points or 0,
    )


def member_data_export(member: Member) -> dict[str, Any]:
    """Everything we hold about the member, as JSON-ready data (the right of access)."""
    transfers = member_history(member).order_by("id")
    return {
        "member": _plain(
            Member.objects.filter(pk=member.pk).values(
                "id",
                "full_name",
                "phone",
                "email",
                "birth_date",
                "consent_email",
                "consent_sms",
                "consent_push",
                "consents_updated_at",
                "leaderboard_opt_in",
                "leaderboard_name",
                "status",
                "referral_code",
                "source",
                "created_at",
            )
        )[0],
        "balances": dict(Account.objects.filter(member=member).values_list("kind", "balance")),
        "badges": _plain(
            MemberBadge.objects.filter(member=member).values("badge__name_en", "awarded_at")
        ),
        "cards": _plain(
            Card.objects.filter(member=member).values("number", "status", "is_virtual", "issued_at")
        ),
        "purchases": _plain(
            member.purchases.order_by("id").values(
                "id", "receipt_id", "amount", "points_earned", "points_redeemed", "created_at"
            )
        ),
        "transfers": _plain(
            transfers.values("id", "code", "amount", "created_at", "reference").annotate(
                debit=F("debit_account__kind"), credit=F("credit_account__kind")
            )
        ),
        "vouchers": _plain(
            member.vouchers.order_by("id").values(
                "code", "title", "status", "points_spent", "issued_at", "valid_until", "used_at"
            )
        ),
        "tiers": _plain(member.tiers.values("ladder__name", "tier__name", "since")),
    }


def _plain(rows: Any) -> list[dict[str, Any]]:
    """Rows with dates, times and decimals as strings."""
    return [{key: _plain_value(value) for key, value in row.items()} for row in rows]


def _plain_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
