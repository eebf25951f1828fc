"""What the operations answer: the output serializers, which the OpenAPI schema documents
and which render the bodies, and the answer (status and body) each operation's result
gives. The POS API, the till and the demo answer through them alike."""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partners.models import Outlet, Partner
from web.api import InstantField, MoneyField, rendered

from .idempotency import Answer, idempotent_answer
from .models import ClubMembership, Hold, Purchase
from .selectors import short_balance
from .services.bonuses import EventRewarded
from .services.purchases import PurchaseRecorded, purchase_record
from .services.refunds import RefundRecorded, refund_record
from .tiers import member_status


class BalanceSerializer(serializers.Serializer):
    class ExpiringPointsSerializer(serializers.Serializer):
        points = serializers.IntegerField()
        expires_at = serializers.DateTimeField()

    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    debt = serializers.IntegerField(help_text="Points owed after refunds; repaid from new points.")
    expiring = ExpiringPointsSerializer(many=True)


class ShortBalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()


class StatusSerializer(serializers.Serializer):
    """The member's tiers and what they give, for the till to apply."""

    class HeldTierSerializer(serializers.Serializer):
        ladder = serializers.CharField()
        tier = serializers.CharField()
        rank = serializers.IntegerField()

    tiers = HeldTierSerializer(many=True)
    discount_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        coerce_to_string=True,
        help_text="The discount to give on the member's receipts (the best of their tiers).",
    )
    earn_multiplier = serializers.DecimalField(max_digits=5, decimal_places=2)
    free_delivery = serializers.BooleanField()
    personal_manager = serializers.BooleanField()


def member_status_body(member_id: int) -> dict[str, Any]:
    return rendered(StatusSerializer, member_status(member_id))


class AppliedRuleSerializer(serializers.Serializer):
    rule = serializers.CharField()
    description = serializers.CharField()
    points = serializers.IntegerField()


class BonusSerializer(serializers.Serializer):
    event = serializers.CharField()
    points = serializers.IntegerField()


class EarnedBadgeSerializer(serializers.Serializer):
    badge = serializers.IntegerField()
    name = serializers.CharField(help_text="In the request's language.")
    points = serializers.IntegerField(help_text="Points given with the badge.")


# Lists named in `omitted_when_empty` are left out of the body when empty. (A comment, not
# a docstring: drf-spectacular would describe every subclass's schema with it.)
class _OmitsEmptyLists(serializers.Serializer):
    omitted_when_empty: tuple[str, ...] = ()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        body = dict(super().to_representation(instance))
        for name in self.omitted_when_empty:
            if not body[name]:
                del body[name]
        return body


class PurchaseOutputSerializer(_OmitsEmptyLists):
    omitted_when_empty = ("bonuses", "badges")

    id = serializers.IntegerField(source="purchase.pk")
    receipt_id = serializers.CharField(source="purchase.receipt_id")
    card = serializers.CharField(source="purchase.card.number")
    amount = MoneyField(source="purchase.amount")
    points_earned = serializers.IntegerField(source="purchase.points_earned")
    points_redeemed = serializers.IntegerField(source="purchase.points_redeemed")
    applied_rules = AppliedRuleSerializer(many=True, source="purchase.applied_rules")
    balance = ShortBalanceSerializer()
    status = StatusSerializer(help_text="The member's tiers and discount after this purchase.")
    bonuses = BonusSerializer(many=True, required=False)
    badges = EarnedBadgeSerializer(
        many=True, required=False, help_text="Badges the member just earned."
    )
    created_at = InstantField(source="purchase.created_at")


def purchase_answer(recorded: PurchaseRecorded) -> Answer:
    """201 with the purchase; 200 for a receipt recorded before with the same data."""
    body = rendered(PurchaseOutputSerializer, recorded)
    if recorded.repeated:
        return Answer(200, body, replayed=True)
    return Answer(201, body)


def purchase_record_answer(
    *,
    partner: Partner,
    outlet: Outlet | None,
    key: str | None,
    card_number: str,
    receipt_id: str,
    amount: Decimal,
    items: list[dict[str, Any]],
    redeem_points: int,
) -> Answer:
    """Record a receipt once per key. The POS API and the till ask it alike, so the same
    key and receipt are the same request at both."""
    receipt = {
        "card": card_number,
        "receipt_id": receipt_id,
        "amount": amount,
        "items": items,
        "redeem_points": redeem_points,
    }
    return idempotent_answer(
        partner=partner,
        key=key,
        operation="purchase",
        request=receipt,
        run=lambda: purchase_record(
            partner=partner,
            outlet=outlet,
            card_number=card_number,
            receipt_id=receipt_id,
            amount=amount,
            items=items,
            redeem_points=redeem_points,
        ),
        answer=purchase_answer,
    )


def purchase_body(purchase: Purchase) -> dict[str, Any]:
    """A recorded purchase with its member's balance and status now (the detail view)."""
    member_id = purchase.member_id
    recorded = PurchaseRecorded(purchase, short_balance(member_id), member_status(member_id))
    return rendered(PurchaseOutputSerializer, recorded)


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="refund.pk")
    purchase = serializers.IntegerField(source="refund.purchase_id")
    amount = MoneyField(source="refund.amount")
    points_reversed = serializers.IntegerField(source="refund.points_reversed")
    points_returned = serializers.IntegerField(source="refund.points_returned")
    debt_booked = serializers.IntegerField(source="refund.debt_booked")
    balance = ShortBalanceSerializer()
    created_at = InstantField(source="refund.created_at")


def refund_answer(recorded: RefundRecorded) -> Answer:
    return Answer(201, rendered(RefundOutputSerializer, recorded))


def refund_record_answer(
    *, partner: Partner, outlet: Outlet | None, key: str | None, purchase_id: int, amount: Decimal
) -> Answer:
    """Refund a purchase once per key, alike at the POS API and the till."""
    return idempotent_answer(
        partner=partner,
        key=key,
        operation="refund",
        request={"purchase": purchase_id, "amount": amount},
        run=lambda: refund_record(
            partner=partner, outlet=outlet, purchase_id=purchase_id, amount=amount
        ),
        answer=refund_answer,
    )


class EventOutputSerializer(_OmitsEmptyLists):
    omitted_when_empty = ("badges",)

    event = serializers.CharField()
    points_awarded = serializers.IntegerField()
    balance = ShortBalanceSerializer()
    badges = EarnedBadgeSerializer(
        many=True, required=False, help_text="Badges the member just earned."
    )


def event_answer(rewarded: EventRewarded) -> Answer:
    return Answer(201, rendered(EventOutputSerializer, rewarded))


class ClubMembershipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    plan = serializers.IntegerField(source="plan_id")
    plan_name = serializers.CharField(source="plan.name")
    tier = serializers.CharField(source="plan.tier.name")
    fee = MoneyField()
    starts_at = InstantField()
    ends_at = InstantField()


def club_membership_answer(membership: ClubMembership) -> Answer:
    return Answer(201, rendered(ClubMembershipOutputSerializer, membership))


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    card = serializers.CharField(source="card.number")
    points = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Hold.Status.choices)
    created_at = InstantField()
    expires_at = InstantField()
    resolved_at = InstantField(allow_null=True)
    balance = serializers.SerializerMethodField()

    @extend_schema_field(ShortBalanceSerializer)
    def get_balance(self, hold: Hold) -> dict[str, Any]:
        return rendered(ShortBalanceSerializer, short_balance(hold.member_id))


def hold_answer(hold: Hold) -> Answer:
    return Answer(201, rendered(HoldSerializer, hold))
