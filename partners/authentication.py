from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from .models import ApiKey
from .services import api_key_authenticate

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; request.auth becomes the ApiKey row."""

    def authenticate(self, request: Request) -> tuple[None, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _sep, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = api_key_authenticate(raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def request_api_key(request: Request) -> ApiKey:
    """The API key that authenticated `request` (guaranteed by HasPartnerApiKey)."""
    if not isinstance(request.auth, ApiKey):
        raise exceptions.NotAuthenticated()
    return request.auth


class HasPartnerApiKey(permissions.BasePermission):
    message = _("An API key is required: send `Authorization: Api-Key <key>`.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, as printed once by `manage.py create_api_key`.",
        }


class ApiKeyLookupThrottle(throttling.SimpleRateThrottle):
    """Lookups by card, phone or voucher code, counted per API key, so that a key
    (stolen, or in a buggy integration) cannot walk through card numbers.

    The rate is `settings.LOOKUP_THROTTLE_RATE`, read on each request.
    """

    scope = "lookup"

    def get_rate(self) -> str:
        return str(settings.LOOKUP_THROTTLE_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiKeyCardThrottle(ApiKeyLookupThrottle):
    """Writes that name a card or a voucher (a purchase, a hold, an event, a card issued):
    refused while the key's lookup budget is spent, and each one that names nothing spends a
    lookup (`lookup_miss_count`). Otherwise a key refused lookups could go on probing which
    numbers exist through writes (`201` against `404`)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True
        while self.history and self.history[-1] <= self.now - duration:
            self.history.pop()
        if len(self.history) >= num_requests:
            return self.throttle_failure()
        return True  # a write that finds its card spends nothing


def lookup_miss_count(request: Request, view: Any) -> None:
    """A write named an unknown card or voucher, or asked a member for more points than
    they have: one lookup from the key's budget."""
    ApiKeyLookupThrottle().allow_request(request, view)
