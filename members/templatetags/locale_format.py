"""Numbers, money and dates in the reader's language (Babel's CLDR data)."""

import re
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from django import template
from django.utils import timezone
from django.utils.translation import get_language

from loyalty.program import program_settings

register = template.Library()


def _locale() -> str:
    return (get_language() or "en").replace("-", "_")


@register.filter
def points(value: int | None) -> str:
    """`12500` → `12,500` (en), `12 500` (ru, pl)."""
    return format_decimal(value or 0, locale=_locale())


# CLDR's currency spacing, which Babel leaves out: a currency code written next to
# the number gets a no-break space ("RUB 1,234.50", not "RUB1,234.50").
_CODE_BEFORE_DIGIT = re.compile(r"([A-Za-z])(?=[\d-])")
_DIGIT_BEFORE_CODE = re.compile(r"(\d)(?=[A-Za-z])")


@register.filter
def money(value: Decimal | int | None) -> str:
    """An amount in the program's currency: `1 234,50 ₽` (ru), `RUB 1,234.50` (en)."""
    text = format_currency(value or 0, program_settings().currency, locale=_locale())
    return _DIGIT_BEFORE_CODE.sub("\\1\u00a0", _CODE_BEFORE_DIGIT.sub("\\1\u00a0", text))


@register.filter
def day(value: date | datetime | None) -> str:
    """A date as the reader writes it: `23 Nov 2026` in English, CLDR's medium form elsewhere."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return format_date(value, format="medium", locale=_locale())
