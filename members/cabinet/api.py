"""`/api/v1/me/`: the cabinet for a mobile app, with the same rules as the web pages.

Authenticated by the cabinet's session or by `Authorization: Token <token>`
(from `POST /api/v1/me/token/`). Every answer is about the signed-in member
only: there is no member id in any URL.
"""

from typing import Any

import django_filters
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from loyalty.exceptions import LoyaltyError
from loyalty.models import Transfer
from loyalty.tiers import member_benefits
from rewards.api import VoucherSerializer, reward_redeem_answer
from web.api import (
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY,
    ErrorSerializer,
    MoneyField,
    answer_response,
    idempotency_key_header,
    validated_input,
)

from ..models import Member
from ..signin import SignInRefused, password_sign_in
from .selectors import (
    HISTORY_KINDS,
    cabinet_balance,
    history_page,
    member_card,
    member_history,
    member_vouchers,
    reward_catalogue,
)


class SignInFailed(LoyaltyError):
    """A refused token request: 401 with why (429 when too many attempts failed)."""

    CODES = {
        "wrong": "authentication_failed",
        "code_needed": "code_required",
        "code_wrong": "code_wrong",
        "too_many": "too_many_attempts",
    }

    def __init__(self, refusal: SignInRefused) -> None:
        super().__init__(refusal.message)
        self.error_code = self.CODES[refusal.reason]
        self.status_code = 429 if refusal.reason == "too_many" else 401
        self.authenticate_header = "Token" if self.status_code == 401 else None


# Every /me/ operation: signed in, but with no active member behind the login, is 403.
MEMBER_RESPONSES = {
    **ERROR_RESPONSES,
    403: OpenApiResponse(
        ErrorSerializer,
        description="Signed in, but no active member is linked to this login: get a card first.",
    ),
}

TOKEN_ERROR_RESPONSES = {
    400: ERROR_RESPONSES[400],
    401: OpenApiResponse(
        ErrorSerializer,
        description=(
            "`authentication_failed`: the email or password is not right; `code_required`: "
            "the account has two-factor authentication, send `code` too; `code_wrong`."
        ),
    ),
    429: OpenApiResponse(
        ErrorSerializer,
        description=(
            "`too_many_attempts`: too many failed sign-ins for this account or from this "
            "address (wait a few minutes), or `throttled`: too many requests from this address."
        ),
    ),
}


class MemberApiView(APIView):
    """A view about the signed-in user's member, found once per request."""

    authentication_classes = [SessionAuthentication, TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    member: Member

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        user = request.user if isinstance(request.user, User) else None
        member = Member.objects.filter(user=user, status=Member.Status.ACTIVE).first()
        if user is None or member is None:
            raise exceptions.PermissionDenied(
                _("Sign in to the cabinet and link or get a card first.")
            )
        self.member = member


class TokenObtainApi(APIView):
    """The cabinet's sign-in for a mobile app: the same limits per address and per account,
    and the same second factor, as the cabinet's own sign-in page."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    class TokenInputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(max_length=200)
        code = serializers.CharField(
            max_length=20,
            required=False,
            allow_blank=True,
            help_text=(
                "The authenticator app's code, or a recovery code: needed by accounts with "
                "two-factor authentication (`401 code_required` without it)."
            ),
        )

    class TokenOutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        operation_id="me_token",
        summary="A token for the mobile app, for the cabinet's email and password",
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer, **TOKEN_ERROR_RESPONSES},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated_input(self.TokenInputSerializer, request.data)
        try:
            user = password_sign_in(
                request._request,
                login=data["email"],
                password=data["password"],
                code=data.get("code", ""),
            )
        except SignInRefused as refusal:
            raise SignInFailed(refusal) from None
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeSerializer(serializers.Serializer):
    class MeBalanceSerializer(serializers.Serializer):
        available = serializers.IntegerField()
        pending = serializers.IntegerField()
        debt = serializers.IntegerField()
        next_release = serializers.DateField(allow_null=True)
        next_release_points = serializers.IntegerField()
        expiring_soon = serializers.IntegerField(help_text="Points expiring within 30 days.")
        expiring_first = serializers.DateField(allow_null=True)

    full_name = serializers.CharField()
    phone = serializers.CharField(allow_null=True)
    email = serializers.CharField()
    card = serializers.CharField(allow_null=True)
    referral_code = serializers.CharField()
    balance = MeBalanceSerializer()
    tiers = serializers.ListField(child=serializers.CharField())
    discount_percent = MoneyField()


class MeApi(MemberApiView):
    @extend_schema(
        operation_id="me",
        summary="The signed-in member: profile, card, balance and status",
        responses={200: MeSerializer, **MEMBER_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        member = self.member
        card = member_card(member)
        benefits = member_benefits(member.pk)
        return Response(
            MeSerializer(
                {
                    "full_name": member.full_name,
                    "phone": member.phone,
                    "email": member.email,
                    "card": card.number if card else None,
                    "referral_code": member.referral_code,
                    "balance": cabinet_balance(member, timezone.now()),
                    "tiers": [tier.name for tier in benefits.tiers],
                    "discount_percent": benefits.discount_percent,
                }
            ).data
        )


class HistoryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _codes) in HISTORY_KINDS.items()],
        method="filter_kind",
    )
    date_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    date_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Transfer
        fields = ["kind", "date_from", "date_to"]

    def filter_kind(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(code__in=HISTORY_KINDS[value][1])


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="transfer.id")
    code = serializers.CharField(source="transfer.code")
    description = serializers.CharField(source="transfer.get_code_display")
    points = serializers.IntegerField(help_text="Signed: what the member's points did.")
    pending = serializers.BooleanField()
    outlet = serializers.CharField(source="transfer.purchase.outlet.name", allow_null=True)
    receipt_id = serializers.CharField(source="transfer.purchase.receipt_id", allow_null=True)
    created_at = serializers.DateTimeField(source="transfer.created_at")


class HistoryPageSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    has_next = serializers.BooleanField(help_text="Whether `page + 1` holds older entries.")
    results = HistoryEntrySerializer(many=True, source="entries")


class MeHistoryApi(MemberApiView):
    class HistoryQuerySerializer(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=100, default=25)

    @extend_schema(
        operation_id="me_history",
        summary="Every movement of the member's points, newest first",
        description="Pages are not counted (a member may have 100,000 transfers): "
        "follow `has_next`.",
        parameters=[
            OpenApiParameter(
                "kind", str, enum=list(HISTORY_KINDS), description="Only this kind of movement."
            ),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="From this day on."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Up to this day."),
            OpenApiParameter("page", int, description="1 for the newest."),
            OpenApiParameter("page_size", int, description="Up to 100; 25 by default."),
        ],
        responses={200: HistoryPageSerializer, **MEMBER_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        paging = validated_input(self.HistoryQuerySerializer, request.query_params)
        filters = HistoryFilter(request.query_params, queryset=member_history(self.member))
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        page = history_page(
            self.member, filters.qs, number=paging["page"], size=paging["page_size"]
        )
        return Response(
            {
                "page": page.number,
                "has_next": page.has_next,
                "results": HistoryEntrySerializer(page.entries, many=True).data,
            }
        )


class CatalogueItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reward.id")
    name = serializers.CharField(source="reward.name")
    description = serializers.CharField(source="reward.description")
    kind = serializers.CharField(source="reward.kind")
    point_cost = serializers.IntegerField(source="reward.point_cost")
    stock = serializers.IntegerField(source="reward.stock", allow_null=True)
    affordable = serializers.BooleanField()
    missing = serializers.IntegerField(help_text="Points still to collect.")


class MeRewardsApi(MemberApiView):
    @extend_schema(
        operation_id="me_rewards",
        summary="The catalogue, with what the member can afford now",
        responses={200: CatalogueItemSerializer(many=True), **MEMBER_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        available = cabinet_balance(self.member, timezone.now()).available
        items = reward_catalogue(available, timezone.now())
        return Response(CatalogueItemSerializer(items, many=True).data)


class MeRewardRedeemApi(MemberApiView):
    @extend_schema(
        operation_id="me_rewards_redeem",
        summary="Redeem a reward: points are debited and a voucher issued",
        parameters=[IDEMPOTENCY_KEY],
        request=None,
        responses={201: VoucherSerializer, **MEMBER_RESPONSES},
    )
    def post(self, request: Request, reward_id: int) -> Response:
        answer = reward_redeem_answer(
            member_id=self.member.pk, reward_id=reward_id, key=idempotency_key_header(request)
        )
        return answer_response(answer)


class MeVouchersApi(MemberApiView):
    @extend_schema(
        operation_id="me_vouchers",
        summary="The member's vouchers, newest first",
        responses={200: VoucherSerializer(many=True), **MEMBER_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        vouchers = member_vouchers(self.member)[:200]
        return Response(VoucherSerializer(vouchers, many=True).data)
