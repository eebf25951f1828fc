"""Reading a member's stored balance in tests."""

from loyalty.ledger import Kind
from loyalty.models import Account


def available_points(member) -> int:
    """The member's available balance as stored on the account row."""
    return Account.objects.get(member=member, kind=Kind.AVAILABLE).balance
