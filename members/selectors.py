from loyalty.exceptions import CardNotFound

from .models import Card, Member
from .phones import InvalidPhone, phone_normalize


def member_by_card(number: str) -> tuple[Member, Card]:
    """The holder of a usable card. Unknown, blank, blocked and lost cards look alike."""
    card = Card.objects.select_related("member").filter(number=number.strip()).first()
    if (
        card is None
        or card.status not in Card.USABLE
        or card.member is None
        or card.member.status != Member.Status.ACTIVE
    ):
        raise CardNotFound()
    return card.member, card


def member_by_phone(phone: str) -> tuple[Member, Card | None]:
    """The active member with this E.164 phone and their most recently issued usable card."""
    member = Member.objects.filter(phone=phone, status=Member.Status.ACTIVE).first()
    if member is None:
        raise CardNotFound()
    card = member.cards.filter(status__in=Card.USABLE).order_by("-issued_at", "-id").first()
    return member, card


def member_by_card_or_phone(text: str) -> Member:
    """The active member a staff user means by a scanned card number or a typed phone."""
    value = text.strip()
    if value.isdigit() and len(value) == 13:
        return member_by_card(value)[0]
    try:
        phone = phone_normalize(value)
    except InvalidPhone:
        raise CardNotFound() from None
    return member_by_phone(phone)[0]
