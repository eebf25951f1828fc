"""Writes of the customer cabinet: getting a virtual card, linking a plastic one."""

import secrets
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import partial

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import Conflict, InvalidRequest
from loyalty.journeys.entering import journeys_enter
from loyalty.ledger import member_accounts_lock
from loyalty.models import EventBonus, Journey, LeaderboardEntry
from loyalty.program import program_settings
from loyalty.services.bonuses import one_time_bonus_award
from partners.selectors import operator_partner

from ..ean import ean13_from_serial
from ..models import CabinetPhone, Card, CardLinkCode, Member
from ..services import card_number_validate, member_create
from ..texted_codes import (
    CODE_TTL,
    code_check,
    code_digest,
    code_draw,
    code_refusal,
    code_send,
    recipient_of,
    sends_allow,
)

CODES_PER_HOUR = 5
# Virtual cards take random serials under the program prefix followed by 9:
# batches count up from 1 under the plain prefix and never reach them.
VIRTUAL_SERIAL_DIGITS = 8


def _refuse_second_member(user: User) -> None:
    if Member.objects.filter(user=user).exists():
        raise Conflict(_("Your account already has a card."))


def virtual_card_issue(*, user: User, referral_code: str = "") -> Card:
    """Self sign-up without a card: a new member with a virtual card and the sign-up bonus.

    A friend's referral code (from their invitation link) makes this a referral:
    both get the referral bonus after this member's first purchase.
    """
    with transaction.atomic():
        # Lock the user row: two clicks at once must not make two members.
        User.objects.select_for_update().filter(pk=user.pk).first()
        _refuse_second_member(user)
        member = member_create(
            source=Member.Source.CABINET, email=user.email, phone=_verified_free_phone(user)
        )
        referrer = Member.objects.filter(
            referral_code=referral_code.strip().upper(), status=Member.Status.ACTIVE
        ).first()
        Member.objects.filter(pk=member.pk).update(user=user, referred_by=referrer)
        operator = operator_partner()
        card = _virtual_card_create(member, operator)
        one_time_bonus_award(member_id=member.pk, event=EventBonus.Event.SIGNUP, partner=operator)
        _registered(member.pk)
        return card


def _verified_free_phone(user: User) -> str | None:
    """The user's verified sign-in phone, unless another member already holds it."""
    row = CabinetPhone.objects.filter(user=user, verified=True).first()
    if row is None or Member.objects.filter(phone=row.phone).exists():
        return None
    return row.phone


def phone_member_link(*, user: User, phone: str) -> Member | None:
    """The user just proved they hold `phone`: link the member it was issued to, if free."""
    with transaction.atomic():
        if Member.objects.filter(user=user).exists():
            return None
        linked = Member.objects.filter(
            phone=phone, user__isnull=True, status=Member.Status.ACTIVE
        ).update(user=user)
        if not linked:
            return None
        member = Member.objects.get(user=user)
        _registered(member.pk)
        return member


def _virtual_card_create(member: Member, operator) -> Card:
    prefix = program_settings().card_prefix + "9"
    for _attempt in range(10):
        serial = secrets.randbelow(10**VIRTUAL_SERIAL_DIGITS)
        try:
            with transaction.atomic():
                return Card.objects.create(
                    number=ean13_from_serial(prefix, serial),
                    partner=operator,
                    member=member,
                    status=Card.Status.ACTIVE,
                    is_virtual=True,
                    issued_at=timezone.now(),
                )
        except IntegrityError:
            continue  # the number is taken: draw another
    raise Conflict(_("No free virtual card number; try again."))


@transaction.atomic
def card_link_start(*, user: User, card_number: str) -> CardLinkCode:
    """Send a one-time code to the phone (or else the email) of the card's member."""
    card_number = card_number_validate(card_number, field="card")
    # The login, then the member, locked while the limits are counted: requests at once
    # must not pass them together.
    User.objects.select_for_update().filter(pk=user.pk).exists()
    _refuse_second_member(user)
    recent = CardLinkCode.objects.filter(
        user=user, created_at__gte=timezone.now() - timedelta(hours=1)
    )
    if recent.count() >= CODES_PER_HOUR:
        raise Conflict(_("Too many codes asked for in the last hour; try again later."))
    card = (
        Card.objects.select_related("member")
        .filter(number=card_number, status__in=Card.USABLE, member__status=Member.Status.ACTIVE)
        .first()
    )
    member = card.member if card is not None else None
    if member is None or member.user_id is not None:
        raise InvalidRequest(
            _("This card cannot be linked: check the number, or ask at the till."), field="card"
        )
    sent_to = recipient_of(member)
    if sent_to is None:
        raise InvalidRequest(
            _("This card has no phone or email to send a code to; ask at the till."),
            field="card",
        )
    # Per card and per phone too: throw-away logins must not text one member again and again.
    Member.objects.select_for_update().filter(pk=member.pk).exists()
    sends_allow(member=member, card_number=card_number)
    code = code_draw()
    link = CardLinkCode.objects.create(
        user=user,
        member=member,
        card_number=card_number,
        code_hash=code_digest(code),
        sent_to=sent_to,
        expires_at=timezone.now() + CODE_TTL,
    )
    text = _("Your code to link card %(card)s: %(code)s. It is valid for 10 minutes.") % {
        "card": card_number,
        "code": code,
    }
    transaction.on_commit(partial(code_send, member, text))  # no text for a rolled-back row
    return link


def card_link_confirm(*, user: User, link_id: int, code: str) -> Member:
    """Link the card's member to the user if the code matches (5 tries, 10 minutes)."""
    with transaction.atomic():
        link = (
            CardLinkCode.objects.select_for_update()
            .filter(pk=link_id, user=user, used_at__isnull=True)
            .first()
        )
        refusal = code_refusal(link)
        if link is not None and refusal is None:
            refusal = code_check(link, code)
            if refusal is None:
                return _link_complete(user, link)
            # The wrong attempt is committed before the refusal is raised.
    raise InvalidRequest(refusal, field="code")


def _link_complete(user: User, link: CardLinkCode) -> Member:
    _refuse_second_member(user)
    if not Member.objects.filter(pk=link.member_id, user__isnull=True).update(user=user):
        raise InvalidRequest(_("This card was linked to another account."), field="code")
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    _registered(link.member_id)
    return Member.objects.get(pk=link.member_id)


def _registered(member_id: int) -> None:
    """The member has a cabinet login now: journeys that start there begin."""
    journeys_enter(Journey.Trigger.REGISTERED, [member_id], now=timezone.now())


@dataclass(frozen=True)
class ProfileChange:
    full_name: str
    email: str
    birth_date: date | None
    consent_email: bool
    consent_sms: bool
    consent_push: bool
    language: str = ""


def profile_update(*, member: Member, change: ProfileChange) -> int:
    """Save the member's profile and consents; returns the bonus points the save earned.

    A profile with a name, phone, email and birth date earns the one-time
    "profile completed" bonus (if the program has one).
    """
    with transaction.atomic():
        # Compared with the stored row: a bound ModelForm has already changed `member`.
        member = Member.objects.get(pk=member.pk)
        consents = ("consent_email", "consent_sms", "consent_push")
        consents_changed = any(getattr(member, name) != getattr(change, name) for name in consents)
        for name, value in asdict(change).items():
            setattr(member, name, value)
        if consents_changed:
            member.consents_updated_at = timezone.now()
        member.save(update_fields=[*asdict(change), "consents_updated_at"])
        if not (member.full_name and member.phone and member.email and member.birth_date):
            return 0
        return one_time_bonus_award(
            member_id=member.pk,
            event=EventBonus.Event.PROFILE_COMPLETED,
            partner=operator_partner(),
        )


def member_anonymise(*, member: Member, user: User) -> None:
    """Delete the account: personal data goes, the ledger's figures stay.

    The member row is kept (its transfers, purchases and lots reference it)
    with every personal field cleared; cards are blocked so nobody earns on
    them; the login itself is deleted.
    """
    with transaction.atomic():
        member_accounts_lock(member.pk)
        Member.objects.filter(pk=member.pk).update(
            phone=None,
            email="",
            full_name="",
            birth_date=None,
            consent_email=False,
            consent_sms=False,
            consent_push=False,
            consents_updated_at=timezone.now(),
            external_id=None,
            leaderboard_opt_in=False,
            leaderboard_name="",
            status=Member.Status.ANONYMISED,
            user=None,
        )
        LeaderboardEntry.objects.filter(member=member).delete()
        Card.objects.filter(member=member, status__in=Card.USABLE).update(
            status=Card.Status.BLOCKED
        )
        user.delete()
