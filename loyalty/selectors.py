"""Reads of the loyalty program."""

from typing import Any

from django.db.models import Sum

from members.models import Member

from .ledger import Kind
from .models import Account, Lot, Purchase


def member_balance(member: Member) -> dict[str, Any]:
    """Available, pending and owed points, and available points grouped by expiry date."""
    balances = dict(Account.objects.filter(member=member).values_list("kind", "balance"))
    expiring = (
        Lot.objects.filter(
            account__member=member,
            account__kind=Kind.AVAILABLE,
            remaining__gt=0,
            expires_at__isnull=False,
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return {
        "available": balances.get(Kind.AVAILABLE, 0),
        "pending": balances.get(Kind.PENDING, 0),
        "debt": balances.get(Kind.DEBT, 0),
        "expiring": [
            {"points": points, "expires_at": expires_at.isoformat()}
            for expires_at, points in expiring.values_list("expires_at", "points")
            if expires_at is not None
        ],
    }


def purchase_summary(purchase: Purchase, balance: dict[str, int]) -> dict[str, Any]:
    """The API's view of a purchase; `balance` is the member's at answer time."""
    return {
        "id": purchase.pk,
        "receipt_id": purchase.receipt_id,
        "card": purchase.card.number,
        "amount": str(purchase.amount),
        "points_earned": purchase.points_earned,
        "points_redeemed": purchase.points_redeemed,
        "applied_rules": purchase.applied_rules,
        "balance": balance,
        "created_at": purchase.created_at.isoformat(),
    }
