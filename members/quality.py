"""The data-quality audit of the member base: what is missing, what is doubled, and the
member lists to fix it (each gap is also a filter of the member list)."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .models import Card, Member

# gap: (label, the members who have it)
GAPS = {
    "no_phone": (_("No phone"), Q(phone__isnull=True) | Q(phone="")),
    "no_email": (_("No email"), Q(email="")),
    "no_birth_date": (_("No birth date"), Q(birth_date__isnull=True)),
    "no_name": (_("No name"), Q(full_name="")),
    "no_consent": (
        _("No consent to any message"),
        Q(consent_email=False, consent_sms=False, consent_push=False),
    ),
    "no_login": (_("Not registered in the cabinet"), Q(user__isnull=True)),
}


def members_with_gap(gap: str) -> QuerySet[Member]:
    return Member.objects.filter(GAPS[gap][1])


def members_with_shared_email() -> QuerySet[Member]:
    """Members whose email another member also gives (likely one person twice)."""
    shared = (
        Member.objects.exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values("address")
    )
    return Member.objects.annotate(address=Lower("email")).filter(address__in=shared)


def members_with_shared_name_and_birth_date() -> QuerySet[Member]:
    twins = (
        Member.objects.exclude(full_name="")
        .filter(birth_date__isnull=False)
        .values("full_name", "birth_date")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    condition = Q(pk__in=[])
    for row in twins[:1000]:
        condition |= Q(full_name=row["full_name"], birth_date=row["birth_date"])
    return Member.objects.filter(condition)


@dataclass
class QualityReport:
    members: int = 0
    gaps: list[tuple[str, str, int]] = field(default_factory=list)  # key, label, members
    shared_emails: int = 0  # members in a group sharing one email
    shared_email_examples: list[tuple[str, int]] = field(default_factory=list)
    shared_name_and_birth_date: int = 0
    cards_without_member: int = 0  # blanks lost or blocked: never reached a member
    blank_cards: int = 0


def quality_report() -> QualityReport:
    """Counts in one pass over the members (conditional aggregates), plus the doubles."""
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    counts = active.aggregate(
        members=Count("id"),
        **{key: Count("id", filter=condition) for key, (_l, condition) in GAPS.items()},
    )
    report = QualityReport(members=counts["members"])
    report.gaps = [(key, str(label), counts[key]) for key, (label, _c) in GAPS.items()]
    groups = (
        Member.objects.exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("-n", "address")
    )
    report.shared_email_examples = [(row["address"], row["n"]) for row in groups[:10]]
    report.shared_emails = sum(row["n"] for row in groups)
    report.shared_name_and_birth_date = members_with_shared_name_and_birth_date().count()
    report.cards_without_member = (
        Card.objects.filter(member__isnull=True).exclude(status=Card.Status.BLANK).count()
    )
    report.blank_cards = Card.objects.filter(status=Card.Status.BLANK).count()
    return report
