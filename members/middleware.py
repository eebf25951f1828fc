"""Request middleware of the members app."""

from collections.abc import Callable

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
