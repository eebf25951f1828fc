"""A NUL character never reaches a view: PostgreSQL cannot store one in text, so a NUL in
a URL or a form field would end as a server error wherever a view hands it to a query."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext as _

# Bodies Django parses into request.POST itself; JSON is the API's, whose fields refuse NUL.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_refuse(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if _holds_nul(request):
            message = _("The request holds a NUL character, which no field accepts.")
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "invalid", "detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return get_response(request)

    return middleware


def _holds_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:  # decoded: %00 is a NUL here
        return True
    queries = [request.GET]
    if request.method == "POST" and request.content_type in FORM_TYPES:
        queries.append(request.POST)
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for query in queries
        for key, values in query.lists()
    )
