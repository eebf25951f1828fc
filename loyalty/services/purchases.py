"""Recording a purchase: points redeemed against the receipt, points earned on the money
paid (base rate, tier and co-brand multipliers, earning rules within their caps), the
first purchase's bonuses, badges and journeys, tiers recalculated."""

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Card, Member
from partners.models import Outlet, Partner
from partners.selectors import cobrand_multipliers
from partners.webhooks import webhook_event_record

from ..badges import (
    EarnedBadge,
    badges_earned,
    event_badges_exist,
    purchase_badges_award,
    referral_badges_award,
)
from ..caps import member_caps_left, member_caps_use
from ..exceptions import (
    CardNotFound,
    InsufficientPoints,
    InvalidRequest,
    ReceiptConflict,
)
from ..fingerprints import request_fingerprint
from ..journeys.entering import journeys_enter, journeys_listen
from ..ledger import (
    Code,
    Kind,
    MemberAccounts,
    available_credit,
    card_accounts_lock,
    system_account,
    transfer_post,
)
from ..models import (
    Badge,
    EventBonus,
    Journey,
    ProgramSettings,
    Purchase,
)
from ..program import (
    MAX_POINTS,
    MAX_RECEIPT_AMOUNT,
    points_expire_at,
    points_release_at,
    program_settings,
)
from ..rules import Item, MemberFacts, PurchaseFacts, RuleSpec, rules_evaluate
from ..selectors import (
    ShortBalance,
    accounts_short_balance,
    earning_rules_snapshot,
    event_bonuses_snapshot,
    short_balance,
)
from ..tier_moves import tier_moves_announce
from ..tiers import (
    Benefits,
    MemberStatus,
    activity_add,
    benefits_of_rows,
    member_benefits,
    member_status,
    member_tiers_lock,
    member_tiers_recalculate,
    tier_snapshot,
)
from .bonuses import event_award, referrer_bonus_award

CENT = Decimal("0.01")


@dataclass(frozen=True)
class AwardedBonus:
    event: str
    points: int


@dataclass(frozen=True)
class PurchaseRecorded:
    """A purchase as recorded, with the member's balance and status after it.

    `repeated`: the receipt had been recorded before with the same data, and this is it.
    """

    purchase: Purchase
    balance: ShortBalance
    status: MemberStatus
    bonuses: tuple[AwardedBonus, ...] = ()
    badges: tuple[EarnedBadge, ...] = ()
    repeated: bool = False


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
    now: datetime | None = None,
) -> PurchaseRecorded:
    """Record a receipt: redeem points against it, then earn points on the money paid.

    Earned points wait in `pending` for the return window (or become available
    at once when it is 0 days). The same partner + receipt id is one purchase: a repeat
    with the same data answers the purchase recorded (`repeated`), different data is a
    ReceiptConflict.
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
        try:
            card, accounts = card_accounts_lock(card_number)
        except CardNotFound:
            # A receipt recorded before its card was blocked still answers as recorded.
            existing = _purchase_by_receipt(partner, receipt_id)
            if existing is None:
                raise
            balance = short_balance(existing.member_id)
            return _purchase_repeat(existing, outlet, fingerprint, balance)
        else:
            # Looked up under the account lock: a concurrent request for the same
            # receipt held it until its purchase was committed and visible.
            existing = _purchase_by_receipt(partner, receipt_id)
            if existing is not None:
                return _purchase_repeat(
                    existing, outlet, fingerprint, accounts_short_balance(accounts)
                )
            return _purchase_create(
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


def _purchase_by_receipt(partner: Partner, receipt_id: str) -> Purchase | None:
    # Nearly always absent: probe with a lean query (a third of the cost of
    # loading the row through the ORM), load the purchase only on a hit.
    probe = Purchase.objects.filter(partner=partner, receipt_id=receipt_id)
    found = list(probe.values_list("pk", flat=True)[:1])
    return Purchase.objects.select_related("card").get(pk=found[0]) if found else None


def _purchase_repeat(
    existing: Purchase, outlet: Outlet | None, fingerprint: str, balance: ShortBalance
) -> PurchaseRecorded:
    # A key of one outlet is answered its own receipts only: another outlet's purchase
    # with the same number is a conflict, not a replay that shows it.
    elsewhere = outlet is not None and existing.outlet_id != outlet.pk
    if existing.fingerprint != fingerprint or elsewhere:
        raise ReceiptConflict()
    return PurchaseRecorded(existing, balance, member_status(existing.member_id), repeated=True)


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
) -> PurchaseRecorded:
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
    for funder, points in purchase_earned_shares(purchase):
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
    recorded = PurchaseRecorded(
        purchase,
        accounts_short_balance(accounts),
        benefits.status(tiers),
        bonuses=tuple(bonuses),
        badges=badges_earned(badges) if badges else (),
    )
    _purchase_webhooks(recorded, now)
    return recorded


def _purchase_webhooks(recorded: PurchaseRecorded, now: datetime) -> None:
    """Tell the partner that recorded the purchase (sent after commit, if it subscribed)."""
    purchase = recorded.purchase
    event_data = {
        "purchase": purchase.pk,
        "receipt_id": purchase.receipt_id,
        "card": purchase.card.number,
        "balance": asdict(recorded.balance),
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


def purchase_earned_shares(purchase: Purchase) -> list[tuple[Partner, int]]:
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
) -> list[AwardedBonus]:
    """Bonuses of a member's first purchase: their own, and a referral's (both sides,
    with the inviting member's first-referral badge)."""
    bonuses = event_bonuses_snapshot()
    first = bonuses.get(EventBonus.Event.FIRST_PURCHASE)
    referral = bonuses.get(EventBonus.Event.REFERRAL)
    awarded = []
    if first is not None:
        points = event_award(accounts, purchase.partner, first.event, "", first.points, now)
        awarded.append(AwardedBonus(first.event, points))
    referrer_id = Member.objects.values_list("referred_by_id", flat=True).get(pk=purchase.member_id)
    if referrer_id is not None and event_badges_exist(Badge.Rule.FIRST_REFERRAL):
        transaction.on_commit(
            lambda: referral_badges_award(referrer_id=referrer_id, referee_id=purchase.member_id)
        )
    if referral is not None and referrer_id is not None:
        points = event_award(
            accounts, purchase.partner, referral.event, "referee", referral.points, now
        )
        awarded.append(AwardedBonus(referral.event, points))
        # The referrer's accounts are locked in a transaction of their own,
        # after this one commits: never two members' locks at once.
        transaction.on_commit(
            lambda: referrer_bonus_award(
                referrer_id=referrer_id, referee_id=purchase.member_id, partner=purchase.partner
            )
        )
    return [award for award in awarded if award.points]


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
