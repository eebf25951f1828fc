from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.selectors import member_by_card
from partners.authentication import ApiKeyCardThrottle, ApiKeyLookupThrottle, request_api_key

from .api_base import (
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY,
    LOOKUP_RESPONSES,
    MoneyField,
    card_number_field,
    idempotency_key_header,
    result_response,
    validated_input,
)
from .club import club_join_by_card
from .exceptions import NotFound
from .holds import hold_capture, hold_create, hold_summary, hold_void
from .models import ClubPlan, EventBonus, Hold, Purchase
from .program import MAX_POINTS, MAX_RECEIPT_AMOUNT
from .reports import non_member_sales_record
from .selectors import member_balance, purchase_summary, short_balance
from .services.bonuses import event_record
from .services.purchases import purchase_record
from .services.refunds import refund_record
from .tiers import member_benefits, tier_snapshot


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


def member_status(member_id: int) -> dict[str, Any]:
    return member_benefits(member_id).as_dict(tier_snapshot())


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


class PurchaseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receipt_id = serializers.CharField()
    card = serializers.CharField()
    amount = MoneyField()
    points_earned = serializers.IntegerField()
    points_redeemed = serializers.IntegerField()
    applied_rules = AppliedRuleSerializer(many=True)
    balance = ShortBalanceSerializer()
    status = StatusSerializer(help_text="The member's tiers and discount after this purchase.")
    bonuses = BonusSerializer(many=True, required=False)
    badges = EarnedBadgeSerializer(
        many=True, required=False, help_text="Badges the member just earned."
    )
    created_at = serializers.DateTimeField()


class RefundOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    purchase = serializers.IntegerField()
    amount = MoneyField()
    points_reversed = serializers.IntegerField()
    points_returned = serializers.IntegerField()
    debt_booked = serializers.IntegerField()
    balance = ShortBalanceSerializer()
    created_at = serializers.DateTimeField()


class CardBalanceApi(APIView):
    throttle_classes = [ApiKeyLookupThrottle]

    @extend_schema(
        operation_id="cards_balance",
        summary="Points on a card: available, pending and expiring",
        responses={200: BalanceSerializer, **LOOKUP_RESPONSES},
    )
    def get(self, request: Request, number: str) -> Response:
        member, _card = member_by_card(number)
        return Response(member_balance(member))


class NonMemberSalesApi(APIView):
    class SalesInputSerializer(serializers.Serializer):
        day = serializers.DateField()
        receipts = serializers.IntegerField(min_value=0, max_value=10_000_000)
        revenue = MoneyField(min_value=0)

    class SalesSerializer(serializers.Serializer):
        day = serializers.DateField()
        outlet = serializers.CharField(allow_null=True, help_text="The key's outlet, if any.")
        receipts = serializers.IntegerField()
        revenue = MoneyField()
        updated_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="nonmember_sales_report",
        summary="Report a day's receipts without a loyalty card (totals)",
        description=(
            "The till's (or, with a partner-wide key, the partner's) number and amount of "
            "receipts of `day` that no card was shown for, so the dashboard can compare "
            "members' receipts with the others. Send running totals as often as you like: "
            "a later report of the same day replaces the earlier one."
        ),
        request=SalesInputSerializer,
        responses={200: SalesSerializer, **ERROR_RESPONSES},
    )
    def put(self, request: Request) -> Response:
        data = validated_input(self.SalesInputSerializer, request.data)
        key = request_api_key(request)
        sales = non_member_sales_record(partner=key.partner, outlet=key.outlet, **data)
        return Response(
            {
                "day": sales.day.isoformat(),
                "outlet": key.outlet.code if key.outlet else None,
                "receipts": sales.receipts,
                "revenue": str(sales.revenue),
                "updated_at": sales.updated_at.isoformat(),
            }
        )


class PurchaseCreateApi(APIView):
    throttle_classes = [ApiKeyCardThrottle]

    class PurchaseInputSerializer(serializers.Serializer):
        class PurchaseItemSerializer(serializers.Serializer):
            sku = serializers.CharField(max_length=64)
            category = serializers.CharField(max_length=64, required=False, allow_blank=True)
            qty = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=0)
            price = MoneyField(min_value=0)

        card = card_number_field()
        receipt_id = serializers.CharField(max_length=64)
        amount = MoneyField(max_value=MAX_RECEIPT_AMOUNT)
        items = serializers.ListField(
            child=PurchaseItemSerializer(), required=False, max_length=1000
        )
        redeem_points = serializers.IntegerField(min_value=0, max_value=MAX_POINTS, default=0)

        def validate_amount(self, value: Any) -> Any:
            if value <= 0:
                raise serializers.ValidationError(_("Amount must be positive."))
            return value

    @extend_schema(
        operation_id="purchases_create",
        summary="Record a purchase: earn points, optionally pay part with points",
        parameters=[IDEMPOTENCY_KEY],
        request=PurchaseInputSerializer,
        responses={
            201: PurchaseOutputSerializer,
            200: OpenApiResponse(
                PurchaseOutputSerializer,
                description="This receipt was already recorded with the same data.",
            ),
            **LOOKUP_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.PurchaseInputSerializer, request.data)
        items = [
            {name: str(value) for name, value in item.items()} for item in data.get("items", [])
        ]
        result = purchase_record(
            partner=request_api_key(request).partner,
            outlet=request_api_key(request).outlet,
            card_number=data["card"].strip(),
            receipt_id=data["receipt_id"],
            amount=data["amount"],
            items=items,
            redeem_points=data["redeem_points"],
            idempotency_key=key,
        )
        return result_response(result)


class PurchaseDetailApi(APIView):
    @extend_schema(
        operation_id="purchases_retrieve",
        summary="A purchase recorded by this partner (this outlet, for a key of one outlet)",
        responses={200: PurchaseOutputSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, purchase_id: int) -> Response:
        key = request_api_key(request)
        purchases = Purchase.objects.select_related("card").filter(
            pk=purchase_id, partner=key.partner
        )
        if key.outlet is not None:
            purchases = purchases.filter(outlet=key.outlet)
        purchase = purchases.first()
        if purchase is None:
            raise NotFound(_("Purchase not found."))
        return Response(
            purchase_summary(
                purchase, short_balance(purchase.member_id), member_status(purchase.member_id)
            )
        )


class RefundCreateApi(APIView):
    class RefundInputSerializer(serializers.Serializer):
        amount = MoneyField()

        def validate_amount(self, value: Any) -> Any:
            if value <= 0:
                raise serializers.ValidationError(_("Amount must be positive."))
            return value

    @extend_schema(
        operation_id="purchases_refunds_create",
        summary="Refund part or all of a purchase",
        parameters=[IDEMPOTENCY_KEY],
        request=RefundInputSerializer,
        responses={201: RefundOutputSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request, purchase_id: int) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.RefundInputSerializer, request.data)
        result = refund_record(
            partner=request_api_key(request).partner,
            outlet=request_api_key(request).outlet,
            purchase_id=purchase_id,
            amount=data["amount"],
            idempotency_key=key,
        )
        return result_response(result)


class EventOutputSerializer(serializers.Serializer):
    event = serializers.CharField()
    points_awarded = serializers.IntegerField()
    balance = ShortBalanceSerializer()
    badges = EarnedBadgeSerializer(
        many=True, required=False, help_text="Badges the member just earned."
    )


class EventCreateApi(APIView):
    throttle_classes = [ApiKeyCardThrottle]

    class EventInputSerializer(serializers.Serializer):
        card = card_number_field()
        event = serializers.ChoiceField(choices=[str(e) for e in EventBonus.REPORTABLE])

    @extend_schema(
        operation_id="events_create",
        summary="Report a member event that earns a bonus (profile, feedback, birthday)",
        parameters=[IDEMPOTENCY_KEY],
        request=EventInputSerializer,
        responses={201: EventOutputSerializer, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.EventInputSerializer, request.data)
        result = event_record(
            partner=request_api_key(request).partner,
            card_number=data["card"].strip(),
            event=data["event"],
            idempotency_key=key,
        )
        return result_response(result)


class ClubPlanSerializer(serializers.ModelSerializer):
    tier = serializers.CharField(source="tier.name")
    fee = MoneyField()

    class Meta:
        model = ClubPlan
        fields = ["id", "name", "tier", "fee", "validity_days"]


class ClubPlanListApi(APIView):
    @extend_schema(
        operation_id="club_plans_list",
        summary="Club plans open for joining",
        responses={200: ClubPlanSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        plans = ClubPlan.objects.filter(is_active=True).select_related("tier")
        return Response(ClubPlanSerializer(plans, many=True).data)


class ClubMembershipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.IntegerField()
    plan_name = serializers.CharField()
    tier = serializers.CharField()
    fee = MoneyField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class ClubMembershipCreateApi(APIView):
    throttle_classes = [ApiKeyCardThrottle]

    class ClubJoinInputSerializer(serializers.Serializer):
        card = card_number_field()
        plan = serializers.IntegerField(min_value=1, help_text="A plan id from /club/plans/.")

    @extend_schema(
        operation_id="club_memberships_create",
        summary="Join the paid club, or renew: the till has taken the fee",
        description=(
            "Renewing the same plan while it runs extends it from its current end. "
            "Another plan of the same club waits until the current one ends (409)."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=ClubJoinInputSerializer,
        responses={201: ClubMembershipOutputSerializer, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.ClubJoinInputSerializer, request.data)
        result = club_join_by_card(
            partner=request_api_key(request).partner,
            card_number=data["card"].strip(),
            plan_id=data["plan"],
            idempotency_key=key,
        )
        return result_response(result)


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    card = serializers.CharField()
    points = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Hold.Status.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    balance = ShortBalanceSerializer()


class HoldCreateApi(APIView):
    throttle_classes = [ApiKeyCardThrottle]

    class HoldInputSerializer(serializers.Serializer):
        card = card_number_field()
        points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS)
        minutes = serializers.IntegerField(
            min_value=1, required=False, help_text="How long to hold (default 15 minutes)."
        )
        reference = serializers.CharField(max_length=64, required=False, default="")

    @extend_schema(
        operation_id="holds_create",
        summary="Reserve a member's points for a purchase at a partner (two-phase burn)",
        description=(
            "The points leave the member's available balance at once. Capture the hold to "
            "spend them, or void it to give them back; a hold not captured in time is "
            "given back by a job within a minute of its `expires_at`."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=HoldInputSerializer,
        responses={201: HoldSerializer, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.HoldInputSerializer, request.data)
        api_key = request_api_key(request)
        result = hold_create(
            partner=api_key.partner,
            outlet=api_key.outlet,
            card_number=data["card"].strip(),
            points=data["points"],
            minutes=data.get("minutes"),
            reference=data["reference"],
            idempotency_key=key,
        )
        return result_response(result)


class HoldCaptureApi(APIView):
    @extend_schema(
        operation_id="holds_capture",
        summary="Spend the held points; repeating it answers the same",
        request=None,
        responses={200: HoldSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request, hold_id: int) -> Response:
        key = request_api_key(request)
        hold = hold_capture(partner=key.partner, outlet=key.outlet, hold_id=hold_id)
        return Response(hold_summary(hold))


class HoldVoidApi(APIView):
    @extend_schema(
        operation_id="holds_void",
        summary="Give the held points back; repeating it answers the same",
        request=None,
        responses={200: HoldSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request, hold_id: int) -> Response:
        key = request_api_key(request)
        hold = hold_void(partner=key.partner, outlet=key.outlet, hold_id=hold_id)
        return Response(hold_summary(hold))
