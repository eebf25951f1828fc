from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.answers import BalanceSerializer, StatusSerializer, member_status_body
from loyalty.exceptions import InvalidRequest
from loyalty.selectors import member_balance
from partners.authentication import ApiKeyLookupThrottle, request_api_key
from partners.models import Partner
from web.api import LOOKUP_RESPONSES, card_number_field, validated_input

from .models import Card, CardClaim, Member
from .selectors import member_by_card, member_by_phone, member_shown_to
from .services import (
    card_claim_confirm,
    card_issue,
    card_replace,
    phone_validate,
)


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField(
        help_text=(
            "In full for the operator and for a partner that issued one of the member's "
            "cards; otherwise the first name and an initial (`Anna K.`)."
        )
    )
    phone = serializers.CharField(
        allow_null=True,
        help_text="Masked (`+7 *** ***-67-89`) under the same rule as `full_name`.",
    )
    status = serializers.ChoiceField(choices=Member.Status.choices)
    # Imported members get theirs on first use; every answer draws it first.
    referral_code = serializers.CharField(help_text="The member's code for inviting friends.")
    created_at = serializers.DateTimeField()


def _member_shown_to(member: Member, partner: Partner) -> dict[str, Any]:
    return {
        "id": member.pk,
        **member_shown_to(member, partner),
        "status": member.status,
        "referral_code": member.referral_code,
        "created_at": member.created_at.isoformat(),
    }


def _member_body(member: Member, card: Card | None, partner: Partner) -> dict[str, Any]:
    return {
        "member": _member_shown_to(member, partner),
        "card": card.number if card is not None else None,
        "card_status": card.status if card is not None else None,
        "balance": member_balance(member),
        "status": member_status_body(member.pk),
    }


class MemberCardOutputSerializer(serializers.Serializer):
    member = MemberOutputSerializer()
    card = serializers.CharField(allow_null=True)
    card_status = serializers.CharField(allow_null=True)
    balance = BalanceSerializer()
    status = StatusSerializer()


class ConfirmationOutputSerializer(serializers.Serializer):
    """A card waiting for the member's yes: a code was texted to them."""

    class ConfirmationSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=CardClaim.Kind.choices)
        card = serializers.CharField(help_text="The card waiting: confirm it with this number.")
        sent_to = serializers.CharField(help_text="Where the code went, masked.")
        expires_at = serializers.DateTimeField()
        attempts_left = serializers.IntegerField()

    confirmation = ConfirmationSerializer()


def _confirmation_body(claim: CardClaim) -> dict[str, Any]:
    return {
        "confirmation": {
            "kind": claim.kind,
            "card": claim.card_number,
            "sent_to": claim.sent_to,
            "expires_at": claim.expires_at.isoformat(),
            "attempts_left": claim.MAX_ATTEMPTS - claim.attempts,
        }
    }


CONFIRMATION_RESPONSE = OpenApiResponse(
    ConfirmationOutputSerializer,
    description=(
        "The member must say yes: a code was texted to them. Send it with "
        "`POST /cards/{number}/confirm/`; until then the new card cannot earn or spend "
        "and the member's other cards work as before."
    ),
)


class CardIssueApi(APIView):
    # A lookup too: its answer says whether a card is issued, and to a phone or not.
    throttle_classes = [ApiKeyLookupThrottle]

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
        description=(
            "A phone nobody holds: a new member with this card (`201`). A phone that is a "
            "member's already: the card is added to them only with their yes (`202`, a code "
            "texted to them)."
        ),
        request=CardIssueInputSerializer,
        responses={
            201: MemberCardOutputSerializer,
            200: OpenApiResponse(
                MemberCardOutputSerializer, description="Already issued to this phone."
            ),
            202: CONFIRMATION_RESPONSE,
            **LOOKUP_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated_input(self.CardIssueInputSerializer, request.data)
        key = request_api_key(request)
        result = card_issue(
            partner=key.partner,
            outlet=key.outlet,
            card_number=data["card"],
            phone=data["phone"],
            full_name=data.get("name", ""),
            referral_code=data.get("referral_code", ""),
            api_key=key,
        )
        if result.claim is not None:
            return Response(_confirmation_body(result.claim), status=status.HTTP_202_ACCEPTED)
        return Response(
            _member_body(result.member, result.card, key.partner),
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
        return Response(_member_body(member, card, request_api_key(request).partner))


class CardReplaceApi(APIView):
    throttle_classes = [ApiKeyLookupThrottle]  # says whether a card exists

    class CardReplaceInputSerializer(serializers.Serializer):
        new_card = card_number_field()
        reason = serializers.ChoiceField(choices=[Card.Status.LOST, Card.Status.REPLACED])

    @extend_schema(
        operation_id="cards_replace",
        summary="Ask to move the member and balance to a new card (the member confirms)",
        request=CardReplaceInputSerializer,
        responses={202: CONFIRMATION_RESPONSE, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request, number: str) -> Response:
        data = validated_input(self.CardReplaceInputSerializer, request.data)
        key = request_api_key(request)
        claim = card_replace(
            partner=key.partner,
            card_number=number,
            new_card_number=data["new_card"],
            reason=data["reason"],
            outlet=key.outlet,
            api_key=key,
        )
        return Response(_confirmation_body(claim), status=status.HTTP_202_ACCEPTED)


class CardConfirmApi(APIView):
    throttle_classes = [ApiKeyLookupThrottle]  # each try of a code is counted

    class CardConfirmInputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=12, help_text="The code texted to the member.")

    @extend_schema(
        operation_id="cards_confirm",
        summary="The member's code for a card added or replaced: the card is theirs",
        description=(
            "For a card that `POST /cards/issue/` or `POST /cards/{number}/replace/` answered "
            "`202` for, with this key's partner (and outlet, for a key of one outlet). A wrong "
            "code is `400` on `code` with the tries left; after five, or ten minutes, ask "
            "again. Codes are limited to five an hour per member and per card."
        ),
        request=CardConfirmInputSerializer,
        responses={200: MemberCardOutputSerializer, **LOOKUP_RESPONSES},
    )
    def post(self, request: Request, number: str) -> Response:
        data = validated_input(self.CardConfirmInputSerializer, request.data)
        key = request_api_key(request)
        card = card_claim_confirm(
            partner=key.partner, outlet=key.outlet, card_number=number, code=data["code"]
        )
        assert card.member is not None
        return Response(_member_body(card.member, card, key.partner))
