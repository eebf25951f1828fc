"""Personal data shown in part: enough for a cashier to greet a member or for a member to
recognise where a code went, not enough to learn who they are."""


def masked_phone(phone: str) -> str:
    """`+79123456789` → `+7 *** ***-67-89`."""
    return f"{phone[:2]} *** ***-{phone[-4:-2]}-{phone[-2:]}"


def masked_email(email: str) -> str:
    """`anna@example.com` → `a***@example.com`."""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def masked_name(full_name: str) -> str:
    """`Anna Maria Kowalska` → `Anna K.`: the first name, and the last name's initial."""
    words = full_name.split()
    if len(words) < 2:
        return words[0] if words else ""
    return f"{words[0]} {words[-1][:1]}."
