"""What every API view shares: input validation and one error shape,
`{"error": code, "detail": message, "fields": {...}}`."""

from typing import Any

from django.db import IntegrityError, OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import LoyaltyError


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Machine-readable error code.")
    detail = serializers.CharField(help_text="Human-readable message.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages for invalid input.",
    )


def _error(code: str, detail: str, http_status: int, fields: Any = None) -> Response:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return Response(body, status=http_status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    fields: Any
    if isinstance(exc, LoyaltyError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return _error(exc.error_code, exc.message, exc.status_code, fields)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error("invalid", _("The request has invalid fields."), 400, fields)
    if isinstance(exc, Http404):
        return _error("not_found", _("Not found."), 404)
    if isinstance(exc, IntegrityError | OperationalError):
        # A race the services did not resolve (or a lock timeout): safe to retry.
        return _error(
            "conflict",
            _("A concurrent request changed the same data; retry the request."),
            status.HTTP_409_CONFLICT,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = {"error": code, "detail": str(exc.detail)}
    return response


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input, with field errors."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or revoked API key."),
    404: OpenApiResponse(ErrorSerializer, description="Not found (unknown or inactive card)."),
    409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state."),
}


def validated_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
