"""Vouchers at the till, for POS and partner keys."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.idempotency import Answer, idempotent_answer
from members.selectors import member_usable_card
from partners.authentication import ApiKeyCardThrottle, ApiKeyLookupThrottle, request_api_key
from partners.models import Outlet, Partner
from partners.selectors import operator_partner
from web.api import (
    IDEMPOTENCY_KEY,
    LOOKUP_RESPONSES,
    InstantField,
    MoneyField,
    answer_response,
    idempotency_key_header,
    rendered,
    validated_input,
)

from .models import Reward, Voucher
from .selectors import voucher_by_code, voucher_code_normalize, voucher_refusal
from .services import reward_redeem, voucher_use


class VoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    display_code = serializers.CharField(help_text="The code in groups of four.")
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=Reward.Kind.choices)
    source = serializers.ChoiceField(choices=Voucher.Source.choices)  # type: ignore[assignment]
    reward = serializers.IntegerField(source="reward_id", allow_null=True)
    discount_percent = MoneyField(allow_null=True)
    discount_amount = MoneyField(allow_null=True)
    points_spent = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Voucher.Status.choices)
    issued_at = InstantField()
    valid_until = InstantField()
    used_at = InstantField(allow_null=True)


def voucher_issued_answer(voucher: Voucher) -> Answer:
    return Answer(201, rendered(VoucherSerializer, voucher))


def voucher_used_answer(voucher: Voucher) -> Answer:
    return Answer(200, rendered(VoucherSerializer, voucher))


def voucher_use_answer(
    *, partner: Partner, outlet: Outlet | None, key: str | None, code: str, receipt_id: str
) -> Answer:
    """Use a voucher once per key, alike at the POS API and the till (the code as typed,
    with dashes or spaces, is the same request as the code written plain)."""
    code = voucher_code_normalize(code)
    return idempotent_answer(
        partner=partner,
        key=key,
        operation="voucher_use",
        request={"code": code, "receipt_id": receipt_id},
        run=lambda: voucher_use(partner=partner, outlet=outlet, code=code, receipt_id=receipt_id),
        answer=voucher_used_answer,
    )


def reward_redeem_answer(*, member_id: int, reward_id: int, key: str | None) -> Answer:
    """A member buys a reward (the cabinet and its API), once per key. The key is scoped to
    the member, so members cannot replay each other's answers."""
    return idempotent_answer(
        partner=operator_partner(),
        key=f"member:{member_id}:{key}" if key is not None else None,
        operation="reward_redeem",
        request={"member": member_id, "reward": reward_id},
        run=lambda: reward_redeem(member_id=member_id, reward_id=reward_id),
        answer=voucher_issued_answer,
    )


class VoucherCheckSerializer(VoucherSerializer):
    card = serializers.CharField(allow_null=True, help_text="The member's current card.")
    usable = serializers.BooleanField()
    refusal = serializers.CharField(allow_null=True, help_text="Why it cannot be used now.")


class VoucherDetailApi(APIView):
    throttle_classes = [ApiKeyLookupThrottle]

    @extend_schema(
        operation_id="vouchers_check",
        summary="Check a voucher before the receipt is closed",
        description="Unknown codes answer 404. The code may be typed with dashes or spaces.",
        responses={200: VoucherCheckSerializer, **LOOKUP_RESPONSES},
    )
    def get(self, request: Request, code: str) -> Response:
        voucher = voucher_by_code(code)
        refusal = voucher_refusal(voucher, timezone.now())
        card = member_usable_card(voucher.member)
        return Response(
            {
                **rendered(VoucherSerializer, voucher),
                "card": card.number if card else None,
                "usable": refusal is None,
                "refusal": refusal,
            }
        )


class VoucherUseApi(APIView):
    throttle_classes = [ApiKeyCardThrottle]

    class VoucherUseInputSerializer(serializers.Serializer):
        receipt_id = serializers.CharField(
            max_length=64, required=False, default="", allow_blank=True
        )

    @extend_schema(
        operation_id="vouchers_redeem",
        summary="Use a voucher: consumed exactly once",
        description=(
            "A replay with the same Idempotency-Key answers the first result; any other "
            "second use answers 409."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=VoucherUseInputSerializer,
        responses={200: VoucherSerializer, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request, code: str) -> Response:
        key = idempotency_key_header(request)
        data = validated_input(self.VoucherUseInputSerializer, request.data)
        api_key = request_api_key(request)
        answer = voucher_use_answer(
            partner=api_key.partner,
            outlet=api_key.outlet,
            key=key,
            code=code,
            receipt_id=data["receipt_id"],
        )
        return answer_response(answer)
