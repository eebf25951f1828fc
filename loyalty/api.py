from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.selectors import member_by_card
from partners.authentication import ApiKeyCardThrottle, ApiKeyLookupThrottle, request_api_key
from web.api import (
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY,
    LOOKUP_RESPONSES,
    MoneyField,
    answer_response,
    card_number_field,
    idempotency_key_header,
    rendered,
    validated_input,
)

from .answers import (
    BalanceSerializer,
    ClubMembershipOutputSerializer,
    EventOutputSerializer,
    HoldSerializer,
    PurchaseOutputSerializer,
    RefundOutputSerializer,
    club_membership_answer,
    event_answer,
    hold_answer,
    purchase_body,
    purchase_record_answer,
    refund_record_answer,
)
from .club import club_join_by_card
from .exceptions import NotFound
from .holds import hold_capture, hold_create, hold_void
from .idempotency import idempotent_answer
from .models import ClubPlan, EventBonus, Purchase
from .program import MAX_POINTS, MAX_RECEIPT_AMOUNT
from .reports import non_member_sales_record
from .selectors import member_balance
from .services.bonuses import event_record


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
        api_key = request_api_key(request)
        answer = purchase_record_answer(
            partner=api_key.partner,
            outlet=api_key.outlet,
            key=key,
            card_number=data["card"].strip(),
            receipt_id=data["receipt_id"],
            amount=data["amount"],
            items=[
                {name: str(value) for name, value in item.items()} for item in data.get("items", [])
            ],
            redeem_points=data["redeem_points"],
        )
        return answer_response(answer)


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
        return Response(purchase_body(purchase))


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
        api_key = request_api_key(request)
        answer = refund_record_answer(
            partner=api_key.partner,
            outlet=api_key.outlet,
            key=key,
            purchase_id=purchase_id,
            amount=data["amount"],
        )
        return answer_response(answer)


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
        partner = request_api_key(request).partner
        card_number = data["card"].strip()
        answer = idempotent_answer(
            partner=partner,
            key=key,
            operation="event",
            request={"card": card_number, "event": data["event"]},
            # Each reported feedback is rewarded once: its key tells one from another.
            run=lambda: event_record(
                partner=partner, card_number=card_number, event=data["event"], occurrence=key
            ),
            answer=event_answer,
        )
        return answer_response(answer)


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
        partner = request_api_key(request).partner
        card_number = data["card"].strip()
        answer = idempotent_answer(
            partner=partner,
            key=key,
            operation="club_join",
            request={"card": card_number, "plan": data["plan"]},
            run=lambda: club_join_by_card(
                partner=partner, card_number=card_number, plan_id=data["plan"]
            ),
            answer=club_membership_answer,
        )
        return answer_response(answer)


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
        hold = {
            "card": data["card"].strip(),
            "points": data["points"],
            "minutes": data.get("minutes") or settings.HOLD_MINUTES_DEFAULT,
            "reference": data["reference"],
        }
        answer = idempotent_answer(
            partner=api_key.partner,
            key=key,
            operation="hold",
            request=hold,
            run=lambda: hold_create(
                partner=api_key.partner,
                outlet=api_key.outlet,
                card_number=hold["card"],
                points=hold["points"],
                minutes=hold["minutes"],
                reference=hold["reference"],
            ),
            answer=hold_answer,
        )
        return answer_response(answer)


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
        return Response(rendered(HoldSerializer, hold))


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
        return Response(rendered(HoldSerializer, hold))
