"""Text messages through a pluggable backend (settings.SMS_BACKEND)."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def console_send(phone: str, text: str) -> None:
    """The default backend: the message goes to the log, for development and demos."""
    logger.warning("SMS to %s: %s", phone, text)


def sms_send(phone: str, text: str) -> None:
    import_string(settings.SMS_BACKEND)(phone, text)
