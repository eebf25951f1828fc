"""The fields of a legacy card base and how their messy spellings are read.

Pure functions: each parser takes what a cell holds (text from a CSV, or a
number or date from an XLSX) and returns the clean value, or raises
`CellError` with a reason a back-office user understands.
"""

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from members.ean import ean13_is_valid
from members.phones import InvalidPhone, phone_normalize

FIELDS = (
    "card_number",
    "phone",
    "full_name",
    "email",
    "balance",
    "issued_at",
    "birth_date",
    "outlet",
)

# Header spellings seen in legacy exports, in English, Russian and Polish.
HEADER_ALIASES = {
    "card_number": [
        "card_number",
        "card",
        "card number",
        "card no",
        "number",
        "номер карты",
        "карта",
        "номер",
        "№ карты",
        "numer karty",
        "nr karty",
        "karta",
    ],
    "phone": [
        "phone",
        "phone number",
        "mobile",
        "телефон",
        "тел",
        "мобильный",
        "номер телефона",
        "telefon",
        "nr telefonu",
        "numer telefonu",
    ],
    "full_name": [
        "full_name",
        "full name",
        "name",
        "customer",
        "фио",
        "имя",
        "клиент",
        "владелец",
        "imię i nazwisko",
        "imie i nazwisko",
        "nazwisko",
        "klient",
    ],
    "email": ["email", "e-mail", "mail", "почта", "эл. почта", "электронная почта", "adres e-mail"],
    "balance": ["balance", "points", "баланс", "баллы", "бонусы", "остаток", "saldo", "punkty"],
    "issued_at": [
        "issued_at",
        "issued",
        "issue date",
        "date issued",
        "дата выдачи",
        "выдана",
        "data wydania",
    ],
    "birth_date": [
        "birth_date",
        "birthday",
        "date of birth",
        "дата рождения",
        "день рождения",
        "data urodzenia",
    ],
    "outlet": ["outlet", "store", "shop", "магазин", "точка", "торговая точка", "sklep", "punkt"],
}


def header_key(text: str) -> str:
    """A header reduced to letters and digits, lower case, Cyrillic yo read as ye:
    `Номер  карты:` becomes `номеркарты`."""
    folded = unicodedata.normalize("NFC", str(text)).casefold().replace("\u0451", "\u0435")
    return "".join(ch for ch in folded if ch.isalnum())


ALIAS_INDEX = {
    header_key(alias): field for field, names in HEADER_ALIASES.items() for alias in names
}


class CellError(ValueError):
    """A cell that cannot be read; the message is shown in the import report."""


# No field's value comes near this (an email is at most 254 characters): a longer
# cell is not data the import can use, and is never copied whole anywhere.
CELL_MAX_CHARS = 1000
# What the report quotes of a refused cell.
QUOTE_MAX_CHARS = 100
# Control characters other than tab and line breaks, and halves of surrogate pairs
# (which some codecs, such as UTF-7, decode to and UTF-8 cannot encode). PostgreSQL
# refuses NUL in any text; none of these is text a user typed.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_check(text: str) -> None:
    """Refuse a text cell that is too long or holds a character that is not text."""
    if len(text) > CELL_MAX_CHARS:
        raise CellError(
            _("The cell is longer than %(limit)d characters.") % {"limit": CELL_MAX_CHARS}
        )
    # isprintable() is true for almost every cell and far cheaper than the search.
    bad = None if text.isprintable() else _NOT_TEXT.search(text)
    if bad:
        raise CellError(
            _("The cell holds a character that is not text: U+%(code)04X.") % {"code": ord(bad[0])}
        )


def cell_quote(value: Any) -> str:
    """A cell as the report quotes it: shortened, and with the characters that are not
    text written as escapes (a NUL or a lone surrogate cannot be stored or encoded)."""
    text = "" if value is None else str(value)
    if len(text) > QUOTE_MAX_CHARS:
        text = text[:QUOTE_MAX_CHARS] + "\u2026"
    return _NOT_TEXT.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a spreadsheet number such as 2000000000015.0
    return str(value).strip()


def card_number_parse(value: Any) -> str:
    text = re.sub(r"[\s-]", "", _text(value))
    if not text:
        raise CellError(_("The card number is empty."))
    if not ean13_is_valid(text):
        raise CellError(_("Not a valid EAN-13 card number (13 digits, check digit)."))
    return text


def phone_parse(value: Any, region: str | None = None) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        return phone_normalize(text, region)
    except InvalidPhone:
        raise CellError(_("Not a phone number.")) from None


def full_name_parse(value: Any) -> str:
    text = " ".join(_text(value).split())
    if len(text) > 200:
        raise CellError(_("The name is longer than 200 characters."))
    return text


def email_parse(value: Any) -> str:
    text = _text(value)
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError:
        raise CellError(_("Not an email address.")) from None
    return text.lower()


_SPACES = re.compile(r"[\s\u00a0\u202f']")


def decimal_parse(value: Any) -> Decimal:
    """`1 234,50`, `1234.50`, `1.234,50`, `1,234.50`: the last separator is the decimal one."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    text = _SPACES.sub("", _text(value))
    if "," in text and "." in text:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    elif text.count(",") == 1:
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(_("Not a number.")) from None
    if not number.is_finite():
        raise CellError(_("Not a number."))
    return number


def points_parse(value: Any) -> int:
    """A balance in whole points, never negative; an empty cell is 0."""
    if _text(value) == "":
        return 0
    number = decimal_parse(value)
    if number < 0:
        raise CellError(_("A balance cannot be negative."))
    if number != number.to_integral_value():
        raise CellError(_("Points are whole numbers; this balance has a fraction."))
    if number > 10**12:
        raise CellError(_("The balance is implausibly large."))
    return int(number)


# dd.mm.yyyy (or / or -), optionally with a time; ISO dates go to datetime.fromisoformat.
_DAY_FIRST = re.compile(
    r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


def date_parse(value: Any) -> date | None:
    """`dd.mm.yyyy` or ISO (a time after the date is ignored); an XLSX date as it is."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    return _datetime_from_text(text).date()


def datetime_parse(value: Any, tz: Any) -> datetime | None:
    """A date or date and time; a date alone means midnight in the program's time zone."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=tz)
    text = _text(value)
    if not text:
        return None
    parsed = _datetime_from_text(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _datetime_from_text(text: str) -> datetime:
    """Regular expressions and fromisoformat, not strptime: ten times faster per cell."""
    try:
        match = _DAY_FIRST.fullmatch(text)
        if match:
            day, month, year, hour, minute, second = match.groups()
            return datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        return datetime.fromisoformat(text)
    except ValueError:
        raise CellError(_("Not a date: write it as dd.mm.yyyy or yyyy-mm-dd.")) from None


def not_in_future(day: date | None, today: date) -> None:
    if day is not None and day > today:
        raise CellError(_("The date is in the future."))
