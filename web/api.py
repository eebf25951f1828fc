"""What every API view shares: input validation and one error shape,
`{"error": code, "detail": message, "fields": {...}}`."""

import functools
from datetime import datetime
from typing import Any

from django.core.validators import RegexValidator
from django.db import IntegrityError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.db_faults import database_unavailable
from loyalty.exceptions import InsufficientPoints, InvalidRequest, LookupMiss, LoyaltyError
from loyalty.idempotency import Answer
from partners.authentication import ApiKeyCardThrottle, lookup_miss_count


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable error code.")
    detail = serializers.CharField(help_text="Human-readable message.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field; nested fields are dotted paths such as `items.0.price`.",
    )


def _flat_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as `{"items.0.price": ["..."]}`, one flat level for clients."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flat_errors(value, f"{path}.{key}" if path else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flat_errors(item, f"{path}.{index}"))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {path: [_encodable(str(message)) for message in messages]} if messages else {}


def _encodable(text: str) -> str:
    """A message that quotes the client's input (`"\\ud800" is not a valid choice`) with any
    lone surrogate written out, so that the answer can be encoded at all."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(code: str, detail: str, http_status: int, fields: Any = None) -> Response:
    body: dict[str, Any] = {"error": code, "detail": _encodable(detail)}
    if fields:
        body["fields"] = fields
    return Response(body, status=http_status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    fields: Any
    view = context.get("view")
    # A write naming a card says something a lookup would have told: that the card does not
    # exist, or that the member has fewer points than asked. Either spends a lookup.
    probe = isinstance(exc, LookupMiss | InsufficientPoints)
    if probe and ApiKeyCardThrottle in getattr(view, "throttle_classes", []):
        lookup_miss_count(context["request"], view)
    if isinstance(exc, LoyaltyError):
        fields = {exc.field: [exc.message]} if exc.field else None
        refusal = _error(exc.error_code, exc.message, exc.status_code, fields)
        if exc.authenticate_header:
            refusal["WWW-Authenticate"] = exc.authenticate_header
        return refusal
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error("invalid", _("The request has invalid fields."), 400, _flat_errors(detail))
    if isinstance(exc, Http404):
        return _error("not_found", _("Not found."), 404)
    if database_unavailable(exc):
        unavailable = _error(
            "unavailable",
            _("The service cannot record this now; retry with the same Idempotency-Key."),
            status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        unavailable["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return unavailable
    if isinstance(exc, IntegrityError):
        # A race the services did not resolve: safe to retry.
        return _error(
            "conflict",
            _("A concurrent request changed the same data; retry the request."),
            status.HTTP_409_CONFLICT,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = {"error": code, "detail": _encodable(str(exc.detail))}
    return response


# How long a client waits before retrying when the database cannot serve.
RETRY_AFTER_SECONDS = 5

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input, with field errors."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or revoked API key."),
    404: OpenApiResponse(ErrorSerializer, description="Not found (unknown or inactive card)."),
    409: OpenApiResponse(
        ErrorSerializer,
        description=(
            "Conflicts with the current state: `insufficient_points`, `receipt_conflict` and "
            "`idempotency_conflict` are final (do not retry); `conflict` from a concurrent "
            "request may be retried with the same Idempotency-Key."
        ),
    ),
    503: OpenApiResponse(
        ErrorSerializer,
        description=(
            "`unavailable`: the database could not do the work now (unreachable, restarting, "
            "read-only, or out of time) and nothing was recorded. Retry after `Retry-After` "
            "seconds with the same Idempotency-Key."
        ),
    ),
}

# Lookups by card, phone or voucher code are rate-limited per API key.
LOOKUP_RESPONSES = {
    **ERROR_RESPONSES,
    429: OpenApiResponse(
        ErrorSerializer,
        description="Too many lookups with this key; retry after `Retry-After` seconds.",
    ),
}


CARD_NUMBER = RegexValidator(r"^\s*[0-9]{13}\s*$", _("A card number is 13 digits."))


def card_number_field(**kwargs: Any) -> serializers.CharField:
    """A card number as the schema documents it: 13 digits (the check digit is verified later)."""
    return serializers.CharField(max_length=32, validators=[CARD_NUMBER], **kwargs)


@extend_schema_field(
    {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "example": "1234.50"}
)
class MoneyField(serializers.DecimalField):
    """An amount of money: a decimal string with at most 2 decimal places."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=14, decimal_places=2, **kwargs)


class InstantField(serializers.DateTimeField):
    """A moment in ISO 8601 with its UTC offset, as stored (never shifted to a local zone)."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


@functools.cache
def _bound(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def rendered(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """`instance` as the output serializer renders it, through one bound instance per class:
    making a serializer deep-copies its fields, about 1 ms for a purchase's answer on every
    request, where rendering with a bound one takes 40 µs."""
    return dict(_bound(serializer_class).to_representation(instance))


def validated_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
    location=OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique key per operation (a UUID). Replays return the original response; "
        "the same key with a different body is refused with 409."
    ),
)


def idempotency_key_header(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise InvalidRequest(_("The Idempotency-Key header is required."), field="Idempotency-Key")
    return key


def answer_response(answer: Answer) -> Response:
    response = Response(answer.body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
