"""One-time codes texted to a member: the member's own yes to a card linked to a cabinet
login, or added to them or replaced at a till.

Each code has MAX_ATTEMPTS tries and ten minutes. Codes are limited per recipient (the
member, so their phone) and per card, whoever asks for them: throw-away logins or keys
cannot text one member, or try one card, more than SENDS_PER_HOUR times an hour. Together
that bounds the guesses at any one member or card to SENDS_PER_HOUR * MAX_ATTEMPTS an hour
against a million possible codes.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import Conflict

from .masks import masked_email, masked_phone
from .models import CardClaim, CardLinkCode, Member, TextedCode
from .sms import sms_send

CODE_TTL = timedelta(minutes=10)
SENDS_PER_HOUR = 5


def code_draw() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_digest(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


def recipient_of(member: Member) -> str | None:
    """Where the member's codes go, masked: their phone, else their email (None: nowhere)."""
    if member.phone:
        return masked_phone(member.phone)
    if member.email:
        return masked_email(member.email)
    return None


def sends_allow(*, member: Member, card_number: str) -> None:
    """Refuse another code to this member or for this card after SENDS_PER_HOUR in an hour."""
    since = timezone.now() - timedelta(hours=1)
    recent = [
        CardLinkCode.objects.filter(created_at__gte=since),
        CardClaim.objects.filter(created_at__gte=since),
    ]
    to_member = sum(codes.filter(member=member).count() for codes in recent)
    for_card = sum(codes.filter(card_number=card_number).count() for codes in recent)
    if max(to_member, for_card) >= SENDS_PER_HOUR:
        raise Conflict(_("Too many codes asked for in the last hour; try again later."))


def code_send(member: Member, text: str) -> None:
    """By text message to the member's phone, or else by email (the row is saved first)."""
    if member.phone:
        sms_send(member.phone, text)
    else:
        send_mail(_("Your loyalty program code"), text, None, [member.email])


def code_refusal(row: TextedCode | None) -> str | None:
    """Why this code can no longer be tried, or None."""
    if row is None or row.expires_at <= timezone.now():
        return _("This code has expired; ask for a new one.")
    if row.attempts >= row.MAX_ATTEMPTS:
        return _("Too many wrong codes; ask for a new one.")
    return None


def code_check(row: TextedCode, code: str) -> str | None:
    """None if `code` is right; else the refusal, with the wrong try recorded on the row
    (the caller commits it before raising)."""
    if hmac.compare_digest(row.code_hash, code_digest(code.strip())):
        return None
    row.attempts += 1
    row.save(update_fields=["attempts"])
    left = row.MAX_ATTEMPTS - row.attempts
    if left:
        return _("Wrong code; %(left)d tries left.") % {"left": left}
    return _("Wrong code; ask for a new one.")
