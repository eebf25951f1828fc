from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Subquery,
    Sum,
    When,
)

from loyalty.exceptions import CardNotFound
from loyalty.models import Purchase
from partners.models import OPERATOR_PARTNER_CODE, Partner

from .masks import masked_name, masked_phone
from .models import Card, Member
from .phones import InvalidPhone, phone_normalize


def member_by_card(number: str) -> tuple[Member, Card]:
    """The holder of a usable card. Unknown, blank, blocked and lost cards look alike."""
    number = number.strip()
    if not (number.isascii() and number.isdigit() and len(number) <= 32):
        raise CardNotFound()  # no card has such a number: no need to ask the database
    card = Card.objects.select_related("member").filter(number=number).first()
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
    return member, member_usable_card(member)


def member_usable_card(member: Member) -> Card | None:
    """The member's most recently issued card that earns and burns (None if they have none)."""
    return member.cards.filter(status__in=Card.USABLE).order_by("-issued_at", "-id").first()


def member_by_card_or_phone(text: str) -> tuple[Member, Card | None]:
    """The active member a staff user means by a scanned card number or a typed phone,
    with that card (or, for a phone, their latest usable one)."""
    value = text.strip()
    if value.isdigit() and len(value) == 13:
        return member_by_card(value)
    try:
        phone = phone_normalize(value)
    except InvalidPhone:
        raise CardNotFound() from None
    return member_by_phone(phone)


def cashier_kpis(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Cards issued per cashier and outlet in [start, end), and the share of those new
    members who came back: a second purchase within 30 and 60 days of getting the card.

    One grouped query; the purchases are counted by correlated subqueries on the
    members' purchase index.
    """

    def purchases_within(days: int) -> Subquery:
        window_end = ExpressionWrapper(
            OuterRef("issued_at") + timedelta(days=days), output_field=DateTimeField()
        )
        return Subquery(
            Purchase.objects.filter(
                member=OuterRef("member"),
                created_at__gte=OuterRef("issued_at"),
                created_at__lt=window_end,
            )
            .order_by()
            .values("member")
            .annotate(count=Count("id"))
            .values("count")[:1],
            output_field=IntegerField(),
        )

    cards = (
        Card.objects.filter(issued_by__isnull=False, issued_at__gte=start, issued_at__lt=end)
        .annotate(within_30=purchases_within(30), within_60=purchases_within(60))
        .values(
            "issued_by",
            "issued_by__username",
            "issued_by__first_name",
            "issued_by__last_name",
            "outlet__name",
        )
        .annotate(
            issued=Count("id"),
            repeat_30=Sum(Case(When(within_30__gte=2, then=1), default=0)),
            repeat_60=Sum(Case(When(within_60__gte=2, then=1), default=0)),
        )
        .order_by("-issued", "issued_by__username")
    )
    rows = []
    for row in cards:
        name = f"{row['issued_by__first_name']} {row['issued_by__last_name']}".strip()
        rows.append(
            {
                "cashier": name or row["issued_by__username"],
                "outlet": row["outlet__name"] or "—",
                "issued": row["issued"],
                "repeat_30": row["repeat_30"],
                "repeat_60": row["repeat_60"],
                "share_30": row["repeat_30"] / row["issued"],
                "share_60": row["repeat_60"] / row["issued"],
            }
        )
    return rows


def member_shown_to(member: Member, partner: Partner) -> dict[str, str | None]:
    """What a partner's till sees of a member's name and phone: in full for the operator
    and for a partner that issued one of the member's cards; otherwise the first name and
    an initial, and a masked phone. Never the email."""
    in_clear = (
        partner.code == OPERATOR_PARTNER_CODE
        or Card.objects.filter(member=member, partner=partner).exists()
    )
    phone = member.phone
    return {
        "full_name": member.full_name if in_clear else masked_name(member.full_name),
        "phone": phone if in_clear or not phone else masked_phone(phone),
    }
