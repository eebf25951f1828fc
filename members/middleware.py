"""Request middleware of the members app."""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from .signin import made_at_till


async def _anonymous() -> AnonymousUser:
    return AnonymousUser()


def till_session_confine(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A session made at the till signs its cashier in at the till and nowhere else: the
    admin, the cabinet and the member API see an anonymous visitor. A cashier's password
    typed on a shared till should not open anything more than the till."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if made_at_till(request) and not request.path.startswith(reverse("till")):
            request.user = AnonymousUser()
            request.auser = _anonymous  # type: ignore[method-assign]
        return get_response(request)

    return middleware


SIGNED_IN_AT, LAST_SEEN_AT = "privileged_signed_in_at", "privileged_last_seen_at"


def privileged_session_expire(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Staff and till sessions end after STAFF_SESSION_IDLE_MINUTES without a request and
    STAFF_SESSION_MAX_HOURS after signing in (OWASP ASVS 3.3.2): a back-office or a till
    left signed in on a shared screen signs itself out. Customers' sessions are theirs to
    keep (docs/operations.md, Security)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and (user.is_staff or made_at_till(request)):
            _privileged_session_check(request)
        return get_response(request)

    return middleware


def _privileged_session_check(request: HttpRequest) -> None:
    now = int(time.time())
    session = request.session
    signed_in_at = session.setdefault(SIGNED_IN_AT, now)
    last_seen_at = session.get(LAST_SEEN_AT, now)
    idle = now - last_seen_at > settings.STAFF_SESSION_IDLE_MINUTES * 60
    too_old = now - signed_in_at > settings.STAFF_SESSION_MAX_HOURS * 3600
    if idle or too_old:
        logout(request)
    elif now - last_seen_at >= 60 or LAST_SEEN_AT not in session:
        session[LAST_SEEN_AT] = now  # once a minute at most: a session write per request is waste
