"""An SMS backend for tests: messages are kept in a list instead of being sent."""

import re

outbox: list[tuple[str, str]] = []


def outbox_send(phone: str, text: str) -> None:
    outbox.append((phone, text))


def texted_code(phone: str) -> str:
    """The six-digit code in the last text message to `phone`."""
    text = next(text for to, text in reversed(outbox) if to == phone)
    return re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]
