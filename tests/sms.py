"""An SMS backend for tests: messages are kept in a list instead of being sent."""

outbox: list[tuple[str, str]] = []


def outbox_send(phone: str, text: str) -> None:
    outbox.append((phone, text))
