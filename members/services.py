"""Writes of members and cards."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import CardNotFound, Conflict, InvalidRequest
from loyalty.journeys import journeys_enter
from loyalty.ledger import member_accounts_create
from loyalty.models import EventBonus, Journey
from loyalty.services import one_time_bonus_award
from partners.models import Outlet, Partner

from .ean import ean13_from_serial, ean13_is_valid
from .models import Card, CardBatch, Member
from .phones import InvalidPhone, phone_normalize

# No 0/O or 1/I: referral codes are read aloud and typed by hand.
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def referral_code_new() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def referral_code_ensure(member: Member) -> str:
    """The member's referral code, drawn now if they have none yet (imported members get
    theirs the first time it is shown). Two callers at once end with the same code."""
    while not member.referral_code:
        code = referral_code_new()
        try:
            with transaction.atomic():
                Member.objects.filter(pk=member.pk, referral_code__isnull=True).update(
                    referral_code=code
                )
        except IntegrityError:
            continue  # another member holds this code: draw again
        member.referral_code = Member.objects.values_list("referral_code", flat=True).get(
            pk=member.pk
        )
    return member.referral_code


def card_number_validate(number: str, field: str = "card") -> str:
    number = number.strip()
    if not ean13_is_valid(number):
        raise InvalidRequest(
            _("A card number is 13 digits with a valid EAN-13 check digit."), field=field
        )
    return number


def phone_validate(raw: str, field: str = "phone") -> str:
    try:
        return phone_normalize(raw)
    except InvalidPhone:
        raise InvalidRequest(_("Enter a valid phone number."), field=field) from None


@transaction.atomic
def member_create(
    *,
    source: str,
    phone: str | None = None,
    email: str = "",
    full_name: str = "",
    external_id: str | None = None,
) -> Member:
    """Create a member with its ledger accounts. `phone` must already be E.164."""
    member = Member.objects.create(
        phone=phone,
        email=email,
        full_name=full_name,
        source=source,
        external_id=external_id,
        referral_code=referral_code_new(),
    )
    member_accounts_create(member.pk)
    return member


def _referrer_for_code(code: str, phone: str) -> Member | None:
    if not code.strip():
        return None
    referrer = Member.objects.filter(referral_code=code.strip().upper()).first()
    if referrer is None:
        raise InvalidRequest(_("Unknown referral code."), field="referral_code")
    if referrer.phone == phone:
        raise InvalidRequest(_("A member cannot refer themselves."), field="referral_code")
    return referrer


def _member_for_phone(phone: str, full_name: str, referrer: Member | None) -> tuple[Member, bool]:
    """The member with this phone, created (with its referrer) if new. Second: created."""
    member = Member.objects.filter(phone=phone).first()
    if member is None:
        try:
            # A savepoint: a concurrent issue for the same new phone may win the
            # unique index; then we use the member it created.
            with transaction.atomic():
                member = member_create(source=Member.Source.POS, phone=phone, full_name=full_name)
                if referrer is not None:
                    member.referred_by = referrer
                    member.save(update_fields=["referred_by"])
                return member, True
        except IntegrityError:
            member = Member.objects.get(phone=phone)
    if full_name and not member.full_name:
        member.full_name = full_name
        member.save(update_fields=["full_name"])
    return member, False


@dataclass
class CardIssueResult:
    card: Card
    member: Member
    created: bool


@transaction.atomic
def card_issue(
    *,
    partner: Partner,
    card_number: str,
    phone: str,
    full_name: str = "",
    outlet: Outlet | None = None,
    issued_by: AbstractBaseUser | None = None,
    referral_code: str = "",
    now: datetime | None = None,
) -> CardIssueResult:
    """Hand a card to the holder of `phone`, creating the card and the member if new.

    A new member gets the sign-up bonus, and is linked to the member whose
    `referral_code` invited them (the referral pays once they first buy).

    Issuing the same card to the same phone again is a no-op that answers the
    same card, so a cashier's retry is safe.
    """
    card_number = card_number_validate(card_number)
    phone = phone_validate(phone)
    full_name = full_name.strip()
    card, _created = Card.objects.select_for_update().get_or_create(
        number=card_number, defaults={"partner": partner}
    )
    if card.status != Card.Status.BLANK:
        if card.status in Card.USABLE and card.member is not None and card.member.phone == phone:
            return CardIssueResult(card=card, member=card.member, created=False)
        if card.status in Card.USABLE:
            raise Conflict(_("This card is already issued to another member."))
        raise Conflict(_("This card is blocked and cannot be issued."))
    member, created = _member_for_phone(phone, full_name, _referrer_for_code(referral_code, phone))
    if member.status != Member.Status.ACTIVE:
        raise Conflict(_("This member is blocked; a card cannot be issued to them."))
    card.member = member
    card.status = Card.Status.ISSUED
    card.issued_at = now or timezone.now()
    card.outlet = outlet
    card.issued_by = issued_by  # type: ignore[assignment]
    card.save(update_fields=["member", "status", "issued_at", "outlet", "issued_by"])
    if created:
        one_time_bonus_award(
            member_id=member.pk,
            event=EventBonus.Event.SIGNUP,
            partner=partner,
            now=card.issued_at,
        )
    journeys_enter(Journey.Trigger.CARD_ISSUED, [member.pk], now=card.issued_at)
    return CardIssueResult(card=card, member=member, created=True)


@transaction.atomic
def card_replace(
    *, card_number: str, new_card_number: str, reason: str, outlet: Outlet | None = None
) -> Card:
    """Move a member to a new card; the balance lives on the member, so it follows.

    `reason` is `lost` (the old card may be in someone's hands) or `replaced`.
    """
    if reason not in (Card.Status.LOST, Card.Status.REPLACED):
        raise InvalidRequest(_("Reason must be 'lost' or 'replaced'."), field="reason")
    new_card_number = card_number_validate(new_card_number, field="new_card")
    if new_card_number == card_number:
        raise InvalidRequest(_("The new card must differ from the old one."), field="new_card")
    old = Card.objects.select_for_update().filter(number=card_number).first()
    if old is None or old.status not in Card.USABLE or old.member is None:
        raise CardNotFound()
    new, _created = Card.objects.select_for_update().get_or_create(
        number=new_card_number, defaults={"partner": old.partner}
    )
    if new.status != Card.Status.BLANK:
        raise Conflict(_("The new card is already in use."))
    new.member = old.member
    new.status = old.status
    new.issued_at = timezone.now()
    new.outlet = outlet
    new.save(update_fields=["member", "status", "issued_at", "outlet"])
    old.status = reason
    old.replaced_by = new
    old.save(update_fields=["status", "replaced_by"])
    return new


BATCH_CHUNK = 5000


@transaction.atomic
def card_batch_create(
    *,
    name: str,
    partner: Partner,
    prefix: str,
    size: int,
    created_by: User | None = None,
) -> CardBatch:
    """Create `size` blank cards numbered on from the prefix's last batch.

    Numbers already taken (a legacy import, a card typed in by hand) are
    skipped, so the batch may span a few more serials than cards. Batches of
    one prefix are numbered one at a time (a lock per prefix).
    """
    if not prefix.isdigit() or not 1 <= len(prefix) <= 8:
        raise InvalidRequest(_("A prefix is 1 to 8 digits."), field="prefix")
    if not 1 <= size <= 1_000_000:
        raise InvalidRequest(_("A batch holds 1 to 1,000,000 cards."), field="size")
    _prefix_lock(prefix)
    last = CardBatch.objects.filter(prefix=prefix).aggregate(last=Max("last_serial"))["last"]
    serial = (last or 0) + 1
    capacity = 10 ** (12 - len(prefix))
    batch = CardBatch.objects.create(
        name=name,
        partner=partner,
        prefix=prefix,
        size=size,
        first_serial=serial,
        last_serial=serial,
        created_by=created_by,
    )
    made = 0
    while made < size:
        if serial >= capacity:
            raise Conflict(
                _("The prefix %(prefix)s has no room for %(size)d more cards.")
                % {"prefix": prefix, "size": size}
            )
        end = min(capacity, serial + min(BATCH_CHUNK, size - made))
        numbers = [ean13_from_serial(prefix, s) for s in range(serial, end)]
        taken = set(Card.objects.filter(number__in=numbers).values_list("number", flat=True))
        fresh = [number for number in numbers if number not in taken]
        Card.objects.bulk_create(
            Card(number=number, partner=partner, batch=batch, status=Card.Status.BLANK)
            for number in fresh
        )
        made += len(fresh)
        serial = end
    CardBatch.objects.filter(pk=batch.pk).update(last_serial=serial - 1)
    batch.last_serial = serial - 1
    return batch


def _prefix_lock(prefix: str) -> None:
    """Serialize batch numbering per prefix (PostgreSQL; SQLite has one writer anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"card-prefix:{prefix}"])
