"""Writes of members and cards."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.exceptions import CardNotFound, Conflict, InvalidRequest, NotFound
from loyalty.journeys.entering import journeys_enter
from loyalty.ledger import member_accounts_open
from loyalty.models import EventBonus, Journey
from loyalty.services.bonuses import one_time_bonus_award
from partners.models import ApiKey, Outlet, Partner

from .ean import ean13_from_serial, ean13_is_valid
from .models import Card, CardBatch, CardClaim, Member
from .phones import InvalidPhone, phone_normalize
from .texted_codes import (
    CODE_TTL,
    code_check,
    code_digest,
    code_draw,
    code_refusal,
    code_send,
    recipient_of,
    sends_allow,
)

# Card codes one till (an API key or a cashier) may ask for in an hour.
CLAIMS_PER_TILL_HOUR = 20
# No 0/O or 1/I: referral codes are read aloud and typed by hand.
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# A random byte to a code character: 256 is a multiple of the alphabet's 32 characters.
_REFERRAL_TABLE = bytes.maketrans(
    bytes(range(256)), "".join(REFERRAL_ALPHABET[byte % 32] for byte in range(256)).encode()
)


def referral_codes_draw(count: int) -> list[str]:
    """`count` new referral codes: random, none held by a member or drawn twice here.

    One way for one member and for a 50,000-row chunk of an import alike; the database
    is asked once a round which are taken (in a space of 32^8, a few of a million are).
    """
    codes: dict[str, None] = {}
    while len(codes) < count:
        text = secrets.token_bytes(8 * (count - len(codes))).translate(_REFERRAL_TABLE).decode()
        drawn = [text[i : i + 8] for i in range(0, len(text), 8)]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT referral_code FROM members_member WHERE referral_code = ANY(%s)", [drawn]
            )
            taken = {code for (code,) in cursor.fetchall()}
        codes.update((code, None) for code in drawn if code not in taken)
    return list(codes)


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
    """Create a member with all it needs: a referral code and its three ledger accounts
    (the legacy import makes its members the same way, a chunk at a time). `phone` must
    already be E.164."""
    (code,) = referral_codes_draw(1)
    member = Member.objects.create(
        phone=phone,
        email=email,
        full_name=full_name,
        source=source,
        external_id=external_id,
        referral_code=code,
    )
    member_accounts_open([member.pk])
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


def _member_new(phone: str, full_name: str, referrer: Member | None) -> Member | None:
    """A new member for this phone, or None if the phone is a member's already (also when a
    concurrent issue for the same new phone won the unique index a moment ago)."""
    try:
        with transaction.atomic():  # a savepoint: the unique index may refuse the phone
            member = member_create(source=Member.Source.POS, phone=phone, full_name=full_name)
            if referrer is not None:
                member.referred_by = referrer
                member.save(update_fields=["referred_by"])
            return member
    except IntegrityError:
        return None


@dataclass
class CardIssueResult:
    """A card issued (`created`: to a new member), or waiting for the member's code
    (`claim`): a card is added to an existing member only with their yes."""

    card: Card
    member: Member
    created: bool
    claim: CardClaim | None = None


@transaction.atomic
def card_issue(
    *,
    partner: Partner,
    card_number: str,
    phone: str,
    full_name: str = "",
    outlet: Outlet | None = None,
    issued_by: AbstractBaseUser | None = None,
    api_key: ApiKey | None = None,
    referral_code: str = "",
    now: datetime | None = None,
) -> CardIssueResult:
    """Hand a card to the holder of `phone`.

    A phone nobody holds makes a new member with this card, the sign-up bonus and the
    member whose `referral_code` invited them (paid once they first buy). A phone that is a
    member's already gets a code texted to it: the card is theirs once the code comes back
    (`card_claim_confirm`), so nobody adds a card to someone else's points.

    Issuing the same card to the same phone again answers the same card, so a cashier's
    retry is safe.
    """
    now = now or timezone.now()
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
    referrer = _referrer_for_code(referral_code, phone)  # an inviter only counts for a new member
    member = Member.objects.filter(phone=phone).first()
    if member is None:
        member = _member_new(phone, full_name, referrer)
        if member is not None:
            _card_hand_over(card, member, outlet=outlet, issued_by=issued_by, now=now)
            one_time_bonus_award(
                member_id=member.pk, event=EventBonus.Event.SIGNUP, partner=partner, now=now
            )
            journeys_enter(Journey.Trigger.CARD_ISSUED, [member.pk], now=now)
            return CardIssueResult(card=card, member=member, created=True)
        member = Member.objects.get(phone=phone)  # a concurrent issue made it a moment ago
    if member.status != Member.Status.ACTIVE:
        raise Conflict(_("This member is blocked; a card cannot be issued to them."))
    claim = _claim_start(
        kind=CardClaim.Kind.ATTACH,
        member=member,
        card=card,
        partner=partner,
        outlet=outlet,
        requested_by=issued_by,
        api_key=api_key,
    )
    return CardIssueResult(card=card, member=member, created=False, claim=claim)


def _card_hand_over(
    card: Card,
    member: Member,
    *,
    outlet: Outlet | None,
    issued_by: AbstractBaseUser | None,
    now: datetime,
) -> None:
    card.member = member
    card.status = Card.Status.ISSUED
    card.issued_at = now
    card.outlet = outlet
    card.issued_by = issued_by  # type: ignore[assignment]
    card.save(update_fields=["member", "status", "issued_at", "outlet", "issued_by"])


@transaction.atomic
def card_replace(
    *,
    partner: Partner,
    card_number: str,
    new_card_number: str,
    reason: str,
    outlet: Outlet | None = None,
    requested_by: AbstractBaseUser | None = None,
    api_key: ApiKey | None = None,
) -> CardClaim:
    """Ask to move a member to a new card; the balance lives on the member, so it follows.

    `reason` is `lost` (the old card may be in someone's hands) or `replaced`. A code is
    texted to the member: the move happens when it comes back (`card_claim_confirm`);
    until then the old card works and the new one stays blank.
    """
    if reason not in (Card.Status.LOST, Card.Status.REPLACED):
        raise InvalidRequest(_("Reason must be 'lost' or 'replaced'."), field="reason")
    new_card_number = card_number_validate(new_card_number, field="new_card")
    if new_card_number == card_number:
        raise InvalidRequest(_("The new card must differ from the old one."), field="new_card")
    old = Card.objects.select_related("member").filter(number=card_number).first()
    if old is None or old.status not in Card.USABLE or old.member is None:
        raise CardNotFound()
    if old.member.status != Member.Status.ACTIVE:
        raise Conflict(_("This member is blocked; a card cannot be issued to them."))
    new, _created = Card.objects.get_or_create(
        number=new_card_number, defaults={"partner": old.partner}
    )
    if new.status != Card.Status.BLANK:
        raise Conflict(_("The new card is already in use."))
    return _claim_start(
        kind=CardClaim.Kind.REPLACE,
        member=old.member,
        card=new,
        old_card=old,
        reason=reason,
        partner=partner,
        outlet=outlet,
        requested_by=requested_by,
        api_key=api_key,
    )


def _claim_start(
    *, kind: str, member: Member, card: Card, partner: Partner, **details: Any
) -> CardClaim:
    """The claim waiting for this member's code: a retry of the same request while it runs
    answers the same claim (and texts nothing more); otherwise a new code, within the
    limits per member and per card."""
    waiting = (
        CardClaim.objects.filter(
            kind=kind,
            member=member,
            card_number=card.number,
            partner=partner,
            old_card=details.get("old_card"),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            attempts__lt=CardClaim.MAX_ATTEMPTS,
        )
        .order_by("-created_at")
        .first()
    )
    if waiting is not None:
        return waiting
    # One claim at a time per member, so that requests at once cannot pass the limit together.
    Member.objects.select_for_update().filter(pk=member.pk).exists()
    sent_to = recipient_of(member)
    if sent_to is None:
        raise Conflict(_("This member has no phone or email to send a code to."))
    sends_allow(member=member, card_number=card.number)
    _sender_allow(details.get("api_key"), details.get("requested_by"))
    code = code_draw()
    claim = CardClaim(
        kind=kind,
        member=member,
        card_number=card.number,
        code_hash=code_digest(code),
        sent_to=sent_to,
        expires_at=timezone.now() + CODE_TTL,
        partner=partner,
        **details,
    )
    claim.save()
    # Texted once the claim is committed: no network call while the card is locked, and
    # no code for a claim that rolled back.
    transaction.on_commit(partial(code_send, member, _claim_text(claim, code)))
    return claim


def _sender_allow(api_key: ApiKey | None, cashier: AbstractBaseUser | None) -> None:
    """A till (an API key, or a cashier at the till page) asks for CLAIMS_PER_TILL_HOUR
    codes an hour at most: enough for any queue, too few to text strangers in bulk or to
    guess codes across many members (each code has five tries)."""
    since = timezone.now() - timedelta(hours=1)
    if api_key is not None:
        asked = CardClaim.objects.filter(api_key=api_key, created_at__gte=since)
    elif cashier is not None:
        asked = CardClaim.objects.filter(requested_by_id=cashier.pk, created_at__gte=since)
    else:
        return
    if asked.count() >= CLAIMS_PER_TILL_HOUR:
        raise Conflict(_("This till asked for too many card codes in the last hour; try later."))


def _claim_text(claim: CardClaim, code: str) -> str:
    if claim.kind == CardClaim.Kind.ATTACH:
        text = _(
            "Code %(code)s adds card %(card)s to your loyalty account. Tell it to the cashier "
            "only if you are asking for this card now. Valid for 10 minutes."
        )
    else:
        text = _(
            "Code %(code)s moves your loyalty points to card %(card)s. Tell it to the cashier "
            "only if you are asking for this card now. Valid for 10 minutes."
        )
    return text % {"code": code, "card": claim.card_number}


def card_claim_confirm(
    *, partner: Partner, card_number: str, code: str, outlet: Outlet | None = None
) -> Card:
    """The member's code for a card added or replaced by this partner (this outlet, for a
    key of one outlet): right, and the card is theirs; wrong, and one try is used up."""
    card_number = card_number_validate(card_number)
    with transaction.atomic():
        waiting = CardClaim.objects.select_for_update().filter(
            partner=partner, card_number=card_number, used_at__isnull=True
        )
        if outlet is not None:
            waiting = waiting.filter(outlet=outlet)
        claim = waiting.order_by("-created_at").first()
        if claim is None:
            raise NotFound(_("No card confirmation is waiting for this card."))
        refusal = code_refusal(claim) or code_check(claim, code)
        if refusal is None:
            return _claim_complete(claim)
        # A wrong try is committed before the refusal is raised.
    raise InvalidRequest(refusal, field="code")


def _claim_complete(claim: CardClaim) -> Card:
    """Do what the member said yes to, if the cards are still as they were."""
    card, old = _claim_cards_lock(claim)
    if card.status != Card.Status.BLANK:
        raise Conflict(_("This card was issued to someone meanwhile."))
    member = Member.objects.get(pk=claim.member_id)
    if member.status != Member.Status.ACTIVE:
        raise Conflict(_("This member is blocked; a card cannot be issued to them."))
    now = timezone.now()
    if old is None:
        _card_hand_over(card, member, outlet=claim.outlet, issued_by=claim.requested_by, now=now)
        journeys_enter(Journey.Trigger.CARD_ISSUED, [member.pk], now=now)
    else:
        _card_move(old, card, claim, now)
    claim.used_at = now
    claim.save(update_fields=["used_at"])
    return card


def _claim_cards_lock(claim: CardClaim) -> tuple[Card, Card | None]:
    """The claim's new card and, for a replacement, the old one, locked in id order."""
    numbers = [claim.card_number]
    if claim.old_card is not None:
        numbers.append(claim.old_card.number)
    cards = {
        card.number: card
        for card in Card.objects.select_for_update().filter(number__in=numbers).order_by("pk")
    }
    old = cards[claim.old_card.number] if claim.old_card is not None else None
    return cards[claim.card_number], old


def _card_move(old: Card, new: Card, claim: CardClaim, now: datetime) -> None:
    if old.status not in Card.USABLE or old.member_id != claim.member_id:
        raise Conflict(_("The old card is no longer this member's."))
    new.member_id = old.member_id
    new.status = old.status
    new.issued_at = now
    new.outlet = claim.outlet
    new.issued_by = claim.requested_by  # type: ignore[assignment]
    new.save(update_fields=["member", "status", "issued_at", "outlet", "issued_by"])
    old.status = claim.reason
    old.replaced_by = new
    old.save(update_fields=["status", "replaced_by"])


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
    """Serialize batch numbering per prefix."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"card-prefix:{prefix}"])
