"""Writes of the loyalty program. Each public function is one transaction."""

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Card, Member
from partners.models import Outlet, Partner
from partners.selectors import cobrand_multipliers
from partners.webhooks import webhook_event_record

from .badges import (
    EVENT_BADGE_RULES,
    badges_summary,
    event_badges_award,
    event_badges_exist,
    purchase_badges_award,
    referral_badges_award,
)
from .caps import member_caps_left, member_caps_use
from .exceptions import (
    CardNotFound,
    Conflict,
    InsufficientPoints,
    InvalidRequest,
    NotFound,
    ReceiptConflict,
)
from .idempotency import OperationResult, idempotency_claim, request_fingerprint
from .journeys.entering import journeys_enter, journeys_listen
from .ledger import (
    Code,
    Kind,
    MemberAccounts,
    available_credit,
    card_accounts_lock,
    member_accounts_lock,
    system_account,
    transfer_post,
)
from .models import (
    Account,
    Badge,
    EventAward,
    EventBonus,
    Journey,
    Lot,
    ProgramSettings,
    Purchase,
    Refund,
)
from .program import (
    MAX_POINTS,
    MAX_RECEIPT_AMOUNT,
    points_expire_at,
    points_release_at,
    program_settings,
    program_settings_cache_clear,
)
from .rules import Item, MemberFacts, PurchaseFacts, RuleSpec, rules_evaluate
from .selectors import (
    earning_rules_snapshot,
    event_bonuses_snapshot,
    purchase_summary,
    short_balance,
)
from .tier_moves import tier_moves_announce
from .tiers import (
    Benefits,
    activity_add,
    benefits_of_rows,
    member_benefits,
    member_tiers_lock,
    member_tiers_recalculate,
    tier_snapshot,
)

CENT = Decimal("0.01")


def program_settings_update(**fields: Any) -> ProgramSettings:
    program, _created = ProgramSettings.objects.get_or_create(id=1)
    for name, value in fields.items():
        setattr(program, name, value)
    program.full_clean()
    program.save()
    program_settings_cache_clear()
    return program


_ROUNDING = {
    ProgramSettings.Rounding.FLOOR: ROUND_FLOOR,
    ProgramSettings.Rounding.HALF_UP: ROUND_HALF_UP,
    ProgramSettings.Rounding.CEILING: ROUND_CEILING,
}


def base_points(program: ProgramSettings, paid: Decimal) -> int:
    """Points for money paid: at the base rate, or as cashback valued at the point value.

    Rounded once, at the end, the way the program says (down by default).
    """
    if program.earn_mode == ProgramSettings.EarnMode.CASHBACK:
        exact = paid * program.cashback_percent / 100 / program.point_value
    else:
        exact = paid * program.earn_points / program.earn_amount
    return int(
        exact.to_integral_value(rounding=_ROUNDING[ProgramSettings.Rounding(program.rounding)])
    )


def purchase_items(items: list[dict[str, Any]]) -> tuple[Item, ...]:
    return tuple(
        Item(
            sku=str(item.get("sku", "")),
            category=str(item.get("category", "")),
            qty=Decimal(str(item.get("qty", "1"))),
            price=Decimal(str(item.get("price", "0"))),
        )
        for item in items
    )


def _base_rule_description(program: ProgramSettings) -> str:
    if program.earn_mode == ProgramSettings.EarnMode.CASHBACK:
        return f"{program.cashback_percent}% cashback"
    return f"{program.earn_points} per {program.earn_amount} {program.currency} paid"


def _balance_body(accounts: MemberAccounts) -> dict[str, int]:
    return {"available": accounts.available.balance, "pending": accounts.pending.balance}


def _redeem_check(
    program: ProgramSettings, accounts: MemberAccounts, amount: Decimal, points: int
) -> Decimal:
    """Validate a redemption against the program's rules; return its money value."""
    if points < 0:
        raise InvalidRequest(_("Points to redeem cannot be negative."), field="redeem_points")
    if points > MAX_POINTS:
        raise InvalidRequest(_("That is more points than anyone holds."), field="redeem_points")
    value = (Decimal(points) * program.point_value).quantize(CENT)
    max_value = amount * program.max_redeem_share
    if value > max_value:
        max_points = int((max_value / program.point_value).to_integral_value(rounding=ROUND_FLOOR))
        raise InvalidRequest(
            _("At most %(points)d points can pay for this receipt.") % {"points": max_points},
            field="redeem_points",
        )
    available = accounts.available.balance
    if available < max(points, program.min_balance_to_redeem):
        # Neither refusal says the balance: a key that knows a card number reads it
        # through the lookups, which are counted, not through a refused write.
        if available < program.min_balance_to_redeem:
            raise InsufficientPoints(
                _("Redeeming needs a balance of at least %(minimum)d points.")
                % {"minimum": program.min_balance_to_redeem}
            )
        raise InsufficientPoints(
            _("The member does not have %(requested)d points available.") % {"requested": points}
        )
    return value


def purchase_record(
    *,
    partner: Partner,
    card_number: str,
    receipt_id: str,
    amount: Decimal,
    items: list[dict[str, Any]] | None = None,
    redeem_points: int = 0,
    outlet: Outlet | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> OperationResult:
    """Record a receipt: redeem points against it, then earn points on the money paid.

    Earned points wait in `pending` for the return window (or become available
    at once when it is 0 days). The same partner + receipt id is one purchase.
    """
    items = items or []
    if amount <= 0:
        raise InvalidRequest(_("Amount must be positive."), field="amount")
    if amount > MAX_RECEIPT_AMOUNT:
        raise InvalidRequest(
            _("A receipt is at most %(amount)s.") % {"amount": MAX_RECEIPT_AMOUNT}, field="amount"
        )
    fingerprint = request_fingerprint(
        "purchase",
        card=card_number,
        receipt_id=receipt_id,
        amount=amount,
        items=items,
        redeem_points=redeem_points,
    )
    with transaction.atomic():
        claim = idempotency_claim(partner=partner, key=idempotency_key, fingerprint=fingerprint)
        if claim.replay is not None:
            return claim.replay
        try:
            card, accounts = card_accounts_lock(card_number)
        except CardNotFound:
            # A receipt recorded before its card was blocked still answers as recorded.
            existing = _purchase_by_receipt(partner, receipt_id)
            if existing is None:
                raise
            balance = short_balance(existing.member_id)
            result = _purchase_repeat(existing, outlet, fingerprint, balance)
        else:
            # Looked up under the account lock: a concurrent request for the same
            # receipt held it until its purchase was committed and visible.
            existing = _purchase_by_receipt(partner, receipt_id)
            if existing is not None:
                result = _purchase_repeat(existing, outlet, fingerprint, _balance_body(accounts))
            else:
                result = _purchase_create(
                    partner=partner,
                    outlet=outlet,
                    card=card,
                    accounts=accounts,
                    receipt_id=receipt_id,
                    amount=amount,
                    items=items,
                    redeem_points=redeem_points,
                    fingerprint=fingerprint,
                    now=now or timezone.now(),
                )
        claim.store(result)
        return result


def _purchase_by_receipt(partner: Partner, receipt_id: str) -> Purchase | None:
    # Nearly always absent: probe with a lean query (a third of the cost of
    # loading the row through the ORM), load the purchase only on a hit.
    probe = Purchase.objects.filter(partner=partner, receipt_id=receipt_id)
    found = list(probe.values_list("pk", flat=True)[:1])
    return Purchase.objects.select_related("card").get(pk=found[0]) if found else None


def _purchase_repeat(
    existing: Purchase, outlet: Outlet | None, fingerprint: str, balance: dict[str, int]
) -> OperationResult:
    # A key of one outlet is answered its own receipts only: another outlet's purchase
    # with the same number is a conflict, not a replay that shows it.
    elsewhere = outlet is not None and existing.outlet_id != outlet.pk
    if existing.fingerprint != fingerprint or elsewhere:
        raise ReceiptConflict()
    status = member_benefits(existing.member_id).as_dict(tier_snapshot())
    return OperationResult(200, purchase_summary(existing, balance, status), replayed=True)


def _purchase_create(
    *,
    partner: Partner,
    outlet: Outlet | None,
    card: Card,
    accounts: MemberAccounts,
    receipt_id: str,
    amount: Decimal,
    items: list[dict[str, Any]],
    redeem_points: int,
    fingerprint: str,
    now: datetime,
) -> OperationResult:
    program = program_settings()
    member_id = accounts.available.member_id
    assert member_id is not None, "member accounts always have a member"
    redeemed_value = _redeem_check(program, accounts, amount, redeem_points)
    paid = amount - redeemed_value
    # Tier benefits and tier conditions are those the member holds at the till.
    tiers = tier_snapshot()
    tier_rows = member_tiers_lock(member_id) if tiers.tiers else []
    benefits = benefits_of_rows(tier_rows, tiers)
    earned = base_points(program, paid)
    applied_rules = []
    if earned:
        applied_rules.append(
            {"rule": "base", "description": _base_rule_description(program), "points": earned}
        )
    tier_bonus = _tier_multiplier_points(benefits, earned)
    if tier_bonus is not None:
        applied_rules.append(tier_bonus)
    cobrand_bonus = _cobrand_points(card.partner_id, earned)
    if cobrand_bonus is not None:
        applied_rules.append(cobrand_bonus)
    rules = earning_rules_snapshot()
    facts = PurchaseFacts(
        partner_id=partner.pk,
        outlet_id=outlet.pk if outlet is not None else None,
        amount=amount,
        paid=paid,
        items=purchase_items(items),
        moment=timezone.localtime(now),
        member=_member_facts(rules, member_id, benefits),
    )
    caps_left = member_caps_left(rules, member_id, facts.moment)
    rule_points = rules_evaluate(rules, facts, earned, program.point_value, caps_left)
    member_caps_use(rule_points, rules, member_id, facts.moment)
    for bonus in (tier_bonus, cobrand_bonus):
        if bonus is not None:
            earned += bonus["points"]
    for rule in rule_points:
        applied_rules.append(
            {"rule": f"rule:{rule.rule_id}", "description": rule.name, "points": rule.points}
        )
        earned += rule.points
    try:
        # No savepoint needed: on a duplicate the error leaves purchase_record's
        # atomic block, which rolls back everything including the key claim.
        purchase = Purchase.objects.create(
            partner=partner,
            outlet=outlet,
            card=card,
            member_id=member_id,
            receipt_id=receipt_id,
            amount=amount,
            items=items,
            points_earned=earned,
            points_redeemed=redeem_points,
            redeemed_value=redeemed_value,
            applied_rules=applied_rules,
            **_cobrand_funding(card, partner, cobrand_bonus),
            fingerprint=fingerprint,
            created_at=now,
        )
    except IntegrityError:
        # The same receipt id was just recorded for another card.
        raise ReceiptConflict() from None
    if redeem_points:
        transfer_post(
            debit=accounts.available,
            credit=system_account(Kind.REDEEMED, partner),
            amount=redeem_points,
            code=Code.REDEMPTION,
            purchase=purchase,
            now=now,
        )
    for funder, points in _earned_shares(purchase):
        if points:
            _points_earn(program, accounts, funder, purchase, points, now)
    if card.status == Card.Status.ISSUED:
        Card.objects.filter(pk=card.pk, status=Card.Status.ISSUED).update(status=Card.Status.ACTIVE)
    first_purchase = _first_purchase_matters() and _is_first_purchase(purchase)
    bonuses = _first_purchase_bonuses(accounts, purchase, now) if first_purchase else []
    activity_add(
        member_id=member_id, day=facts.moment.date(), spend=amount, purchases=1, points=earned
    )
    badges = purchase_badges_award(accounts, purchase, first_purchase=first_purchase, now=now)
    if first_purchase:
        journeys_enter(Journey.Trigger.FIRST_PURCHASE, [member_id], now=now)
    moves = member_tiers_recalculate(member_id, tier_rows, now)
    if moves:
        tier_moves_announce(moves)
        benefits = member_benefits(member_id)
    body = purchase_summary(purchase, _balance_body(accounts), benefits.as_dict(tiers))
    if bonuses:
        body["bonuses"] = bonuses
    if badges:
        body["badges"] = badges_summary(badges)
    _purchase_webhooks(purchase, body, now)
    return OperationResult(201, body)


def _purchase_webhooks(purchase: Purchase, body: dict[str, Any], now: datetime) -> None:
    """Tell the partner that recorded the purchase (sent after commit, if it subscribed)."""
    event_data = {
        "purchase": purchase.pk,
        "receipt_id": purchase.receipt_id,
        "card": purchase.card.number,
        "balance": body["balance"],
    }
    for event, points in (
        ("points.earned", purchase.points_earned),
        ("points.redeemed", purchase.points_redeemed),
    ):
        if points:
            webhook_event_record(
                partner_id=purchase.partner_id,
                event=event,
                data={**event_data, "points": points},
                now=now,
            )


def _tier_multiplier_points(benefits: Benefits, base: int) -> dict[str, Any] | None:
    """The extra base points of the member's best earn multiplier, as an applied rule."""
    if benefits.earn_multiplier <= 1 or not base:
        return None
    extra = int(
        (Decimal(base) * (benefits.earn_multiplier - 1)).to_integral_value(rounding=ROUND_FLOOR)
    )
    if not extra:
        return None
    tier = max(benefits.tiers, key=lambda t: t.earn_multiplier)
    return {
        "rule": f"tier:{tier.id}",
        "description": f"{tier.name} ×{tier.earn_multiplier.normalize()}",  # noqa: RUF001
        "points": extra,
    }


def _cobrand_points(card_partner_id: int, base: int) -> dict[str, Any] | None:
    """The extra base points of a co-branded card (a range a partner owns), as a rule."""
    cobrand = cobrand_multipliers().get(card_partner_id)
    if cobrand is None or not base:
        return None
    extra = int((Decimal(base) * (cobrand.multiplier - 1)).to_integral_value(rounding=ROUND_FLOOR))
    if not extra:
        return None
    return {
        "rule": f"cobrand:{cobrand.partner_id}",
        "description": f"{cobrand.name} card ×{cobrand.multiplier.normalize()}",  # noqa: RUF001
        "points": extra,
    }


def _cobrand_funding(
    card: Card, partner: Partner, cobrand_bonus: dict[str, Any] | None
) -> dict[str, Any]:
    """The purchase fields saying which partner pays for a co-branded card's extra points."""
    if cobrand_bonus is None or card.partner_id == partner.pk:
        return {"cobrand_partner_id": None, "cobrand_points": 0}
    return {"cobrand_partner_id": card.partner_id, "cobrand_points": cobrand_bonus["points"]}


def _earned_shares(purchase: Purchase) -> list[tuple[Partner, int]]:
    """Who pays for the purchase's earned points, and how many each: the partner where
    the member bought, and the partner of a co-branded card for its extra points."""
    shares = [(purchase.partner, purchase.points_earned - purchase.cobrand_points)]
    if purchase.cobrand_points and purchase.cobrand_partner is not None:
        shares.append((purchase.cobrand_partner, purchase.cobrand_points))
    return shares


def _member_facts(rules: tuple[RuleSpec, ...], member_id: int, benefits: Benefits) -> MemberFacts:
    """What rules may ask about the member; birthday and segments are read only if asked."""
    birth_date = None
    if any(rule.birthday_window_days is not None for rule in rules):
        birth_date = Member.objects.values_list("birth_date", flat=True).get(pk=member_id)
    segment_ids: frozenset[int] = frozenset()
    if any(rule.segment_ids for rule in rules):
        segment_ids = frozenset(
            Member.segments.through.objects.filter(member_id=member_id).values_list(
                "segment_id", flat=True
            )
        )
    return MemberFacts(tier_ids=benefits.tier_ids, segment_ids=segment_ids, birth_date=birth_date)


def _first_purchase_matters() -> bool:
    """Whether a bonus or badge depends on a member's first purchase: only then is it
    worth a query to tell."""
    bonuses = event_bonuses_snapshot()
    return (
        EventBonus.Event.FIRST_PURCHASE in bonuses
        or EventBonus.Event.REFERRAL in bonuses
        or event_badges_exist(Badge.Rule.FIRST_PURCHASE)
        or event_badges_exist(Badge.Rule.FIRST_REFERRAL)
        or journeys_listen(Journey.Trigger.FIRST_PURCHASE)
    )


def _is_first_purchase(purchase: Purchase) -> bool:
    return not (
        Purchase.objects.filter(member_id=purchase.member_id).exclude(pk=purchase.pk).exists()
    )


def _first_purchase_bonuses(
    accounts: MemberAccounts, purchase: Purchase, now: datetime
) -> list[dict[str, Any]]:
    """Bonuses of a member's first purchase: their own, and a referral's (both sides,
    with the inviting member's first-referral badge)."""
    bonuses = event_bonuses_snapshot()
    first = bonuses.get(EventBonus.Event.FIRST_PURCHASE)
    referral = bonuses.get(EventBonus.Event.REFERRAL)
    awarded = []
    if first is not None:
        points = _event_award(accounts, purchase.partner, first.event, "", first.points, now)
        awarded.append({"event": first.event, "points": points})
    referrer_id = Member.objects.values_list("referred_by_id", flat=True).get(pk=purchase.member_id)
    if referrer_id is not None and event_badges_exist(Badge.Rule.FIRST_REFERRAL):
        transaction.on_commit(
            lambda: referral_badges_award(referrer_id=referrer_id, referee_id=purchase.member_id)
        )
    if referral is not None and referrer_id is not None:
        points = _event_award(
            accounts, purchase.partner, referral.event, "referee", referral.points, now
        )
        awarded.append({"event": referral.event, "points": points})
        # The referrer's accounts are locked in a transaction of their own,
        # after this one commits: never two members' locks at once.
        transaction.on_commit(
            lambda: referrer_bonus_award(
                referrer_id=referrer_id, referee_id=purchase.member_id, partner=purchase.partner
            )
        )
    return [award for award in awarded if award["points"]]


def _event_award(
    accounts: MemberAccounts, partner: Partner, event: str, period: str, points: int, now: datetime
) -> int:
    """Give an event bonus once per member, event and period. Returns the points given
    (0 if it was already given)."""
    assert accounts.available.member_id is not None
    try:
        with transaction.atomic():  # a savepoint: a repeat leaves the caller's work intact
            EventAward.objects.create(
                member_id=accounts.available.member_id,
                event=event,
                period=period,
                points=points,
                created_at=now,
            )
    except IntegrityError:
        return 0
    if points:
        available_credit(
            accounts=accounts,
            source=system_account(Kind.ISSUED, partner),
            amount=points,
            code=Code.BONUS,
            expires_at=points_expire_at(program_settings(), now),
            reference=f"event:{event}",
            now=now,
        )
    return points


@transaction.atomic
def referrer_bonus_award(*, referrer_id: int, referee_id: int, partner: Partner) -> int:
    """The inviting member's side of a referral, once per friend who joined."""
    bonus = event_bonuses_snapshot().get(EventBonus.Event.REFERRAL)
    if bonus is None or not bonus.referrer_points:
        return 0
    accounts = member_accounts_lock(referrer_id)
    period = f"referred:{referee_id}"
    return _event_award(
        accounts, partner, bonus.event, period, bonus.referrer_points, timezone.now()
    )


@transaction.atomic
def one_time_bonus_award(
    *, member_id: int, event: str, partner: Partner, now: datetime | None = None
) -> int:
    """A bonus given once in a member's life (sign-up, completed profile); 0 if given."""
    bonus = event_bonuses_snapshot().get(event)
    if bonus is None:
        return 0
    accounts = member_accounts_lock(member_id)
    return _event_award(accounts, partner, bonus.event, "", bonus.points, now or timezone.now())


def event_record(
    *,
    partner: Partner,
    card_number: str,
    event: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> OperationResult:
    """An event reported by a POS or partner (profile completed, feedback, birthday).

    Profile completion is rewarded once, a birthday once a year, and each
    feedback (one per idempotency key) once.
    """
    if event not in EventBonus.REPORTABLE:
        raise InvalidRequest(_("This event cannot be reported."), field="event")
    now = now or timezone.now()
    fingerprint = request_fingerprint("event", card=card_number, event=event)
    with transaction.atomic():
        claim = idempotency_claim(partner=partner, key=idempotency_key, fingerprint=fingerprint)
        if claim.replay is not None:
            return claim.replay
        bonus = event_bonuses_snapshot().get(event)
        badge_rule = EVENT_BADGE_RULES.get(event)
        if bonus is None and not (badge_rule and event_badges_exist(badge_rule)):
            raise Conflict(_("No bonus is configured for this event."))
        _card, accounts = card_accounts_lock(card_number)
        period = {
            EventBonus.Event.PROFILE_COMPLETED: "",
            EventBonus.Event.BIRTHDAY: str(timezone.localtime(now).year),
            EventBonus.Event.FEEDBACK: f"key:{idempotency_key or now.isoformat()}",
        }[EventBonus.Event(event)]
        bonus_points = bonus.points if bonus is not None else 0
        points = _event_award(accounts, partner, event, period, bonus_points, now)
        if not points and bonus_points:
            raise Conflict(_("This event was already rewarded for this member."))
        badges = (
            event_badges_award(accounts, badge_rule, reference=f"event:{event}", now=now)
            if badge_rule
            else []
        )
        body = {"event": event, "points_awarded": points, "balance": _balance_body(accounts)}
        if badges:
            body["badges"] = badges_summary(badges)
        result = OperationResult(201, body)
        claim.store(result)
        return result


def _points_earn(
    program: ProgramSettings,
    accounts: MemberAccounts,
    partner: Partner,
    purchase: Purchase,
    points: int,
    now: datetime,
) -> None:
    issued = system_account(Kind.ISSUED, partner)
    expires_at = points_expire_at(program, now)
    if program.pending_days == 0:
        available_credit(
            accounts=accounts,
            source=issued,
            amount=points,
            code=Code.PURCHASE_EARN,
            expires_at=expires_at,
            purchase=purchase,
            now=now,
        )
        return
    transfer_post(
        debit=issued,
        credit=accounts.pending,
        amount=points,
        code=Code.PURCHASE_EARN,
        purchase=purchase,
        lot_release_at=points_release_at(program, now),
        lot_expires_at=expires_at,
        now=now,
    )


def _proportional_share(points: int, refunded: Decimal, total: Decimal) -> int:
    """Points attributable to `refunded` of `total`, rounded down (full refund = all)."""
    if refunded >= total:
        return points
    return int((Decimal(points) * refunded / total).to_integral_value(rounding=ROUND_FLOOR))


def refund_record(
    *,
    partner: Partner,
    purchase_id: int,
    amount: Decimal,
    outlet: Outlet | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> OperationResult:
    """Refund part or all of a purchase.

    Redeemed points are returned in proportion; earned points are reversed in
    proportion, from the purchase's pending points first, then from available
    points, and whatever the member already spent is booked as debt that
    future credits repay.
    """
    fingerprint = request_fingerprint("refund", purchase=purchase_id, amount=amount)
    with transaction.atomic():
        claim = idempotency_claim(partner=partner, key=idempotency_key, fingerprint=fingerprint)
        if claim.replay is not None:
            return claim.replay
        # Lock order everywhere: the purchase row, then the member's accounts.
        purchases = Purchase.objects.select_for_update(of=("self",)).select_related("partner")
        purchases = purchases.filter(pk=purchase_id, partner=partner)
        if outlet is not None:
            purchases = purchases.filter(outlet=outlet)  # a key of one outlet: its receipts
        purchase = purchases.first()
        if purchase is None:
            raise NotFound(_("Purchase not found."))
        refundable = purchase.amount - purchase.refunded_amount
        if amount <= 0:
            raise InvalidRequest(_("Refund amount must be positive."), field="amount")
        if amount > refundable:
            raise InvalidRequest(
                _("At most %(amount)s can still be refunded on this receipt.")
                % {"amount": refundable},
                field="amount",
            )
        result = _refund_apply(purchase, amount, now or timezone.now())
        claim.store(result)
        return result


def _refund_apply(purchase: Purchase, amount: Decimal, now: datetime) -> OperationResult:
    accounts = member_accounts_lock(purchase.member_id)
    refunded_total = purchase.refunded_amount + amount
    # Each funder's share is reversed in proportion on its own, so that over all
    # refunds of a receipt every partner gets back exactly what it paid for.
    reversals = [
        (
            funder,
            _proportional_share(points, refunded_total, purchase.amount)
            - _proportional_share(points, purchase.refunded_amount, purchase.amount),
        )
        for funder, points in _earned_shares(purchase)
    ]
    reverse = sum(points for _funder, points in reversals)
    give_back = (
        _proportional_share(purchase.points_redeemed, refunded_total, purchase.amount)
        - purchase.points_returned
    )
    refund = Refund.objects.create(
        purchase=purchase,
        amount=amount,
        points_reversed=reverse,
        points_returned=give_back,
        created_at=now,
    )
    if give_back:
        available_credit(
            accounts=accounts,
            source=system_account(Kind.REDEEMED, purchase.partner),
            amount=give_back,
            code=Code.REFUND_RETURN,
            expires_at=points_expire_at(program_settings(), now),
            purchase=purchase,
            refund=refund,
            now=now,
        )
    debt = sum(
        _earned_points_reverse(accounts, purchase, refund, funder, points, now)
        for funder, points in reversals
        if points
    )
    if debt:
        Refund.objects.filter(pk=refund.pk).update(debt_booked=debt)
        refund.debt_booked = debt
    _refund_activity_subtract(purchase, amount, refunded_total, reverse, now)
    Purchase.objects.filter(pk=purchase.pk).update(
        refunded_amount=refunded_total,
        points_reversed=F("points_reversed") + reverse,
        points_returned=F("points_returned") + give_back,
    )
    body = {
        "id": refund.pk,
        "purchase": purchase.pk,
        "amount": str(amount),
        "points_reversed": reverse,
        "points_returned": give_back,
        "debt_booked": debt,
        "balance": _balance_body(accounts),
        "created_at": now.isoformat(),
    }
    return OperationResult(201, body)


def _refund_activity_subtract(
    purchase: Purchase,
    amount: Decimal,
    refunded_total: Decimal,
    reversed_points: int,
    now: datetime,
) -> None:
    """Take a refund off the counters tiers qualify on and the leaderboard ranks by, and
    recalculate the member's tiers.

    The spend and points come off the purchase's own day; a receipt refunded in
    full no longer counts as a purchase.
    """
    activity_add(
        member_id=purchase.member_id,
        day=timezone.localtime(purchase.created_at).date(),
        spend=-amount,
        purchases=-1 if refunded_total >= purchase.amount else 0,
        points=-reversed_points,
    )
    if tier_snapshot().tiers:
        rows = member_tiers_lock(purchase.member_id)
        tier_moves_announce(member_tiers_recalculate(purchase.member_id, rows, now))


def _earned_points_reverse(
    accounts: MemberAccounts,
    purchase: Purchase,
    refund: Refund,
    funder: Partner,
    points: int,
    now: datetime,
) -> int:
    """Take back `points` of those `funder` paid for on `purchase`; return the part
    booked as debt."""
    issued = system_account(Kind.ISSUED, funder)
    left = points
    pending_lot = Lot.objects.filter(
        account=accounts.pending,
        transfer__purchase=purchase,
        transfer__code=Code.PURCHASE_EARN,
        transfer__debit_account=issued,
        remaining__gt=0,
    ).first()
    # From the purchase's own pending points, then available points, then debt.
    sources: list[tuple[Account, int, Lot | None]] = []
    if pending_lot is not None:
        sources.append((accounts.pending, pending_lot.remaining, pending_lot))
    sources.append((accounts.available, accounts.available.balance, None))
    for account, covers, lot in sources:
        take = min(covers, left)
        if take:
            transfer_post(
                debit=account,
                credit=issued,
                amount=take,
                code=Code.REFUND_REVERSAL,
                from_lot=lot,
                purchase=purchase,
                refund=refund,
                now=now,
            )
            left -= take
    if left:
        transfer_post(
            debit=accounts.debt,
            credit=issued,
            amount=left,
            code=Code.DEBT,
            purchase=purchase,
            refund=refund,
            now=now,
        )
    return left


@transaction.atomic
def points_adjust(*, member: Member, points: int, reason: str, now: datetime | None = None) -> int:
    """Staff correction: credit (points > 0) or debit (points < 0) available points.

    Returns the change to the available balance (a credit first repays debt).
    """
    if points == 0 or not reason.strip():
        raise InvalidRequest(_("An adjustment needs non-zero points and a reason."))
    now = now or timezone.now()
    accounts = member_accounts_lock(member.pk)
    adjustments = system_account(Kind.ADJUSTMENTS)
    if points > 0:
        return available_credit(
            accounts=accounts,
            source=adjustments,
            amount=points,
            code=Code.ADJUSTMENT,
            expires_at=points_expire_at(program_settings(), now),
            reference=reason,
            now=now,
        )
    transfer_post(
        debit=accounts.available,
        credit=adjustments,
        amount=-points,
        code=Code.ADJUSTMENT,
        reference=reason,
        now=now,
    )
    return points
