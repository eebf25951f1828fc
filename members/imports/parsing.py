"""Parsing a card base's rows: which column holds which field, and each row as typed values.

The headers are mapped to fields once (`columns_map`); then `RowParser` turns
each row of the file into a staging tuple, collecting its cells' problems
instead of raising them, and `SeenFilter` flags the rows that may repeat an
earlier one. This is
the Python side of the import, run by the reading thread a million times on a
large file: nothing here touches the database but the outlets, read once.
"""

import csv
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.program import points_expire_at, program_settings
from partners.models import Outlet

from . import fields as F
from .reader import Table, UnreadableFile


def columns_map(headers: list[str], mapping: dict[str, str]) -> tuple[dict[int, str], list[str]]:
    """Which column holds which field: `mapping` (source header -> field) first, then the
    known header spellings. Returns {column index: field} and the ignored headers."""
    _headers_check(headers)
    unknown = sorted(set(mapping.values()) - set(F.FIELDS))
    if unknown:
        raise UnreadableFile(
            _("Unknown field %(field)s; fields are: %(fields)s.")
            % {"field": ", ".join(unknown), "fields": ", ".join(F.FIELDS)}
        )
    by_key = {F.header_key(source): target for source, target in mapping.items()}
    found: dict[int, str] = {}
    ignored = []
    for index, header in enumerate(headers):
        target = by_key.get(F.header_key(header)) or F.ALIAS_INDEX.get(F.header_key(header))
        if target is None:
            if header:
                ignored.append(header)
            continue
        if target in found.values():
            raise UnreadableFile(
                _("Two columns hold %(field)s; map one of them with --map.") % {"field": target}
            )
        found[index] = target
    if "card_number" not in found.values():
        raise UnreadableFile(
            _('No card number column among: %(headers)s. Name it with --map "Header=card_number".')
            % {"headers": ", ".join(headers)}
        )
    return found, ignored


def _headers_check(headers: list[str]) -> None:
    """Headers go into messages, the summary and the report: they follow a cell's rules."""
    for column, header in enumerate(headers, start=1):
        try:
            F.text_check(header)
        except F.CellError as error:
            raise UnreadableFile(
                _("The header of column %(column)d: %(reason)s")
                % {"column": column, "reason": error}
            ) from None


def outlets_by_key() -> dict[str, int]:
    """The outlets' ids by what an outlet cell may hold, casefolded: a code or a name (a code
    wins over another outlet's name; of outlets sharing a name, the first read keeps it)."""
    outlets: dict[str, int] = {}
    for outlet_id, code, name in Outlet.objects.values_list("id", "code", "name"):
        outlets.setdefault(name.casefold(), outlet_id)
        outlets[code.casefold()] = outlet_id
    return outlets


class RowParser:
    """Turns one file row into a staging tuple; cell problems are collected, not raised.

    Everything that does not change from row to row (the columns, the time
    zone, today, the outlets, the expiry of each issue date) is worked out
    once: this runs a million times.
    """

    def __init__(
        self, columns: dict[int, str], headers: list[str], outlets: dict[str, int], now: datetime
    ) -> None:
        program = program_settings()
        self.now = now
        self.tz = timezone.get_current_timezone()
        self.today = timezone.localdate(now)
        self.outlets = outlets
        self.seen = SeenFilter()
        self._expiry = lru_cache(maxsize=4096)(lambda moment: points_expire_at(program, moment))
        parsers: dict[str, Callable[[Any], Any]] = {
            "card_number": F.card_number_parse,
            "phone": F.phone_parse,
            "full_name": F.full_name_parse,
            "email": F.email_parse,
            "balance": F.points_parse,
            "issued_at": self._issued_at,
            "birth_date": self._birth_date,
            "outlet": self._outlet,
        }
        # (field, column index, header, parser) for the columns the file has.
        self.cells = [
            (name, index, headers[index], parsers[name]) for index, name in columns.items()
        ]

    def __call__(self, number: int, cells: list[Any]) -> tuple[Any, ...]:
        values: dict[str, Any] = {"full_name": "", "email": "", "balance": 0}
        problems = []
        width = len(cells)
        for name, index, header, parse in self.cells:
            raw = cells[index] if index < width else None
            try:
                if raw.__class__ is str:
                    F.text_check(raw)  # before any parser copies it or it reaches the database
                values[name] = parse(raw)
            except F.CellError as error:
                problems.append([header, F.cell_quote(raw), str(error)])
        issued_at = values.get("issued_at")
        balance = values["balance"]
        maybe_repeat = False
        if not problems:
            maybe_repeat = self.seen.add(values["card_number"])
            if values.get("phone"):
                maybe_repeat = self.seen.add(values["phone"]) or maybe_repeat
        # The staging table's columns, in its order: staging writes the tuple as it is.
        return (
            number,
            values.get("card_number"),
            values.get("phone"),
            values["full_name"],
            values["email"],
            values.get("birth_date"),
            issued_at,
            values.get("outlet"),
            balance,
            self._expiry(issued_at or self.now) if balance else None,
            json.dumps(problems, ensure_ascii=False) if problems else None,
            "error" if problems else "ok",
            maybe_repeat,
        )

    def _outlet(self, value: Any) -> int | None:
        key = str(value or "").strip().casefold()
        if not key:
            return None
        if key not in self.outlets:
            raise F.CellError(_("No such outlet (give its code or name)."))
        return self.outlets[key]

    def _birth_date(self, value: Any) -> date | None:
        parsed = F.date_parse(value)
        F.not_in_future(parsed, self.today)
        return parsed

    def _issued_at(self, value: Any) -> datetime | None:
        parsed = F.datetime_parse(value, self.tz)
        try:
            day = parsed.astimezone(self.tz).date() if parsed else None
        except OverflowError:  # 0001-01-01T00:00+05:00 falls before the year 1 here
            raise F.CellError(_("The date is out of range.")) from None
        F.not_in_future(day, self.today)
        return parsed


class SeenFilter:
    """The card numbers and phones of the valid rows read so far, as a Bloom filter.

    A row whose card and phone it has not seen cannot repeat an earlier row,
    so SQL looks up only the rows it flags: the repeats and, at a million rows,
    about one other row in a thousand. It takes 8 MB whatever the file's size
    (a set of a million numbers would take a hundred).
    """

    BITS = 1 << 26
    HASHES = 3

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)

    def add(self, key: str) -> bool:
        """Add `key`; True if it may have been added before, False if it surely was not."""
        position = hash(key)
        step = (position >> 32) | 1  # double hashing: positions h, h + s, h + 2s, ...
        bits, mask = self.bits, self.BITS - 1
        seen = True
        for _hash in range(self.HASHES):
            position = (position + step) & mask
            byte, bit = position >> 3, 1 << (position & 7)
            if not bits[byte] & bit:
                seen = False
                bits[byte] |= bit
        return seen


def parsed_rows(table: Table, parser: RowParser) -> Iterator[tuple[Any, ...]]:
    """The file's rows through `parser`; a file that breaks midway (its encoding, its CSV)
    is refused from the row where it broke."""
    count = 0
    try:
        for number, cells in table.rows:
            yield parser(number, cells)
            count += 1
    except UnicodeDecodeError:
        raise UnreadableFile(
            _(
                "The file is not in %(encoding)s after row %(row)d; give the encoding "
                "(for example --encoding cp1251)."
            )
            % {"encoding": table.encoding, "row": count + 1}
        ) from None
    except csv.Error as error:
        raise UnreadableFile(
            _("The CSV is broken after row %(row)d: %(error)s") % {"row": count + 1, "error": error}
        ) from None
