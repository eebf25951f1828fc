"""Journey messages: written in the member's language, sent once, tracked.

Links go through `/j/<token>/`, which records the click and redirects to the
step's link with UTM tags; emails carry an open pixel and an unsubscribe link
signed for the member and channel.
"""

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from members.models import Member
from members.sms import sms_send
from members.templatetags.locale_format import points

from ..models import JourneyMessage, JourneyStep, Purchase
from ..selectors import member_balance

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "journeys.unsubscribe"


def push_console_send(member: Member, title: str, text: str, link: str) -> None:
    """The default push backend: the notification goes to the log."""
    logger.warning("Push to member %s: %s — %s %s", member.pk, title, text, link)


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def tracked_link(message: JourneyMessage) -> str:
    """The step's link as the member receives it: through the click counter."""
    return absolute(reverse("journey-click", args=[message.token])) if message.step.link else ""


def link_with_utm(message: JourneyMessage) -> str:
    """Where a click goes: the step's link with the campaign's UTM tags."""
    link = message.step.link
    if link.startswith("/"):
        link = absolute(link)
    parts = urlsplit(link)
    utm = urlencode(
        {
            "utm_source": "loyalty",
            "utm_medium": message.step.action,
            "utm_campaign": f"journey-{message.step.journey_id}",
            "utm_content": f"step-{message.step.position}",
        }
    )
    query = f"{parts.query}&{utm}" if parts.query else utm
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def unsubscribe_token(member_id: int, channel: str) -> str:
    return signing.dumps({"member": member_id, "channel": channel}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_read(token: str) -> tuple[int, str] | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return int(data["member"]), str(data["channel"])


class _Blank(dict[str, str]):
    """Placeholders a text names but the member lacks come out empty, not as an error."""

    def __missing__(self, key: str) -> str:
        return ""


def _placeholders(member: Member) -> dict[str, str]:
    last = Purchase.objects.filter(member=member).exclude(items=[]).order_by("-created_at").first()
    product = ""
    if last is not None and last.items:
        item = last.items[0]
        product = str(item.get("name") or item.get("category") or item.get("sku") or "")
    return {
        "name": member.full_name.split(" ")[0] if member.full_name else "",
        "points": points(member_balance(member)["available"]),
        "product": product,
        "cabinet_url": absolute(reverse("cabinet-home")),
    }


def journey_message_deliver(message_id: int, *, now: datetime | None = None) -> str:
    """Send a claimed message once; returns its final status."""
    message = JourneyMessage.objects.select_related("entry__member", "step").get(pk=message_id)
    if message.status != JourneyMessage.Status.SENDING:
        return message.status
    member = message.entry.member
    language = member.language or settings.LANGUAGE_CODE
    try:
        with translation.override(language):
            _send(message, member, language)
    except Exception as error:  # any backend failure is recorded, never retried blindly
        logger.exception("Journey message %s failed", message.pk)
        JourneyMessage.objects.filter(pk=message.pk, status=JourneyMessage.Status.SENDING).update(
            status=JourneyMessage.Status.FAILED, detail=str(error)[:200]
        )
        return JourneyMessage.Status.FAILED
    JourneyMessage.objects.filter(pk=message.pk, status=JourneyMessage.Status.SENDING).update(
        status=JourneyMessage.Status.SENT, sent_at=now or timezone.now()
    )
    return JourneyMessage.Status.SENT


def _send(message: JourneyMessage, member: Member, language: str) -> None:
    step = message.step
    values = _Blank(_placeholders(member))
    text = step.translated("text", language).format_map(values)
    subject = step.translated("subject", language).format_map(values)
    link = tracked_link(message)
    if step.action == JourneyStep.Action.SMS:
        sms_send(member.phone or "", f"{text} {link}".strip())
    elif step.action == JourneyStep.Action.PUSH:
        import_string(settings.PUSH_BACKEND)(member, subject, text, link)
    else:
        _email_send(message, member, subject, text, link)


def _email_send(
    message: JourneyMessage, member: Member, subject: str, text: str, link: str
) -> None:
    unsubscribe = absolute(
        reverse("journey-unsubscribe", args=[unsubscribe_token(member.pk, "email")])
    )
    context: dict[str, Any] = {
        "subject": subject,
        "paragraphs": [paragraph for paragraph in text.split("\n\n") if paragraph.strip()],
        "text": text,
        "link": link,
        "unsubscribe": unsubscribe,
        "pixel": absolute(reverse("journey-open", args=[message.token])),
    }
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/journey.txt", context),
        to=[member.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(render_to_string("emails/journey.html", context), "text/html")
    email.send()


def message_opened(token: str, now: datetime) -> None:
    JourneyMessage.objects.filter(token=token, opened_at__isnull=True).update(opened_at=now)


def message_clicked(token: str, now: datetime) -> JourneyMessage | None:
    """Record a click (a click also proves the message was opened); the message or None."""
    message = JourneyMessage.objects.select_related("step").filter(token=token).first()
    if message is None or not message.step.link:
        return None
    JourneyMessage.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=now)
    JourneyMessage.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now)
    return message
