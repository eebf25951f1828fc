from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api import BalanceSerializer, StatusSerializer, member_status
from loyalty.api_base import ERROR_RESPONSES, LOOKUP_RESPONSES, card_number_field, validated_input
from loyalty.exceptions import InvalidRequest
from loyalty.selectors import member_balance
from partners.authentication import ApiKeyLookupThrottle, request_api_key

from .models import Card, Member
from .selectors import member_by_card, member_by_phone
from .services import card_issue, card_replace, phone_validate, referral_code_ensure


class MemberOutputSerializer(serializers.ModelSerializer):
    # Imported members get theirs on first use; every answer draws it first.
    referral_code = serializers.CharField(
        read_only=True, help_text="The member's code for inviting friends."
    )

    class Meta:
        model = Member
        fields = ["id", "full_name", "phone", "email", "status", "referral_code", "created_at"]


def _member_body(member: Member, card: Card | None) -> dict[str, Any]:
    referral_code_ensure(member)  # the till prints it on the member's slip
    return {
        "member": MemberOutputSerializer(member).data,
        "card": card.number if card is not None else None,
        "card_status": card.status if card is not None else None,
        "balance": member_balance(member),
        "status": member_status(member.pk),
    }


class MemberCardOutputSerializer(serializers.Serializer):
    member = MemberOutputSerializer()
    card = serializers.CharField(allow_null=True)
    card_status = serializers.CharField(allow_null=True)
    balance = BalanceSerializer()
    status = StatusSerializer()


class CardIssueApi(APIView):
    class CardIssueInputSerializer(serializers.Serializer):
        card = card_number_field(help_text="13-digit EAN-13 card number.")
        phone = serializers.CharField(max_length=32)
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        referral_code = serializers.CharField(
            max_length=12, required=False, allow_blank=True, help_text="A new member's inviter."
        )

    @extend_schema(
        operation_id="cards_issue",
        summary="Issue a card to a phone number",
        request=CardIssueInputSerializer,
        responses={
            201: MemberCardOutputSerializer,
            200: OpenApiResponse(
                MemberCardOutputSerializer, description="Already issued to this phone."
            ),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated_input(self.CardIssueInputSerializer, request.data)
        result = card_issue(
            partner=request_api_key(request).partner,
            outlet=request_api_key(request).outlet,
            card_number=data["card"],
            phone=data["phone"],
            full_name=data.get("name", ""),
            referral_code=data.get("referral_code", ""),
        )
        return Response(
            _member_body(result.member, result.card),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class MemberLookupApi(APIView):
    throttle_classes = [ApiKeyLookupThrottle]

    @extend_schema(
        operation_id="members_lookup",
        summary="Find a member by card or phone",
        parameters=[
            OpenApiParameter("card", str, description="Card number"),
            OpenApiParameter("phone", str, description="Phone in any usual format"),
        ],
        responses={200: MemberCardOutputSerializer, **LOOKUP_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        card_number = request.query_params.get("card", "").strip()
        phone = request.query_params.get("phone", "").strip()
        if bool(card_number) == bool(phone):
            raise InvalidRequest(_("Give exactly one of `card` or `phone`."))
        card: Card | None
        if card_number:
            member, card = member_by_card(card_number)
        else:
            member, card = member_by_phone(phone_validate(phone))
        return Response(_member_body(member, card))


class CardReplaceApi(APIView):
    class CardReplaceInputSerializer(serializers.Serializer):
        new_card = card_number_field()
        reason = serializers.ChoiceField(choices=[Card.Status.LOST, Card.Status.REPLACED])

    @extend_schema(
        operation_id="cards_replace",
        summary="Move the member and balance to a new card",
        request=CardReplaceInputSerializer,
        responses={200: MemberCardOutputSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request, number: str) -> Response:
        data = validated_input(self.CardReplaceInputSerializer, request.data)
        new_card = card_replace(
            card_number=number,
            new_card_number=data["new_card"],
            reason=data["reason"],
            outlet=request_api_key(request).outlet,
        )
        assert new_card.member is not None
        return Response(_member_body(new_card.member, new_card))
