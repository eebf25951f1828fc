import phonenumbers
from django.conf import settings


class InvalidPhone(ValueError):
    pass


def phone_normalize(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of a phone typed any usual way, or raise InvalidPhone.

    `8 (912) 345-67-89`, `+7 912 345 67 89` and `9123456789` all give
    `+79123456789` in the RU region: the Russian trunk prefix 8 is the local
    way of writing +7.
    """
    text = raw.strip()
    if not text:
        raise InvalidPhone("empty phone number")
    region = region or settings.PHONE_DEFAULT_REGION
    digits = "".join(ch for ch in text if ch.isdigit())
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] in "78":
        text = "+7" + digits[1:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
