"""Public endpoints of journey messages: click and open tracking, unsubscribing."""

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from members.models import Member

from .messages import link_with_utm, message_clicked, message_opened, unsubscribe_read

# A transparent GIF of one pixel.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

CONSENT_FIELDS = {"email": "consent_email", "sms": "consent_sms", "push": "consent_push"}


@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Count the click, then go where the step links to (never anywhere a URL asks)."""
    message = message_clicked(token, timezone.now())
    if message is None:
        raise Http404
    return HttpResponseRedirect(link_with_utm(message))


@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_opened(token, timezone.now())
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the signed token is the credential; mail clients POST without a session
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation; POST (the button, or a mail client's one-click)
    withdraws the consent for that channel."""
    target = unsubscribe_read(token)
    if target is None or target[1] not in CONSENT_FIELDS:
        raise Http404
    member_id, channel = target
    done = request.method == "POST"
    if done:
        Member.objects.filter(pk=member_id).update(
            **{CONSENT_FIELDS[channel]: False, "consents_updated_at": timezone.now()}
        )
    return render(request, "cabinet/unsubscribe.html", {"done": done, "channel": channel})
