"""Program settings, read on every purchase, so cached briefly in-process."""

import calendar
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from .cache import ProcessCache
from .models import ProgramSettings

# What one operation may ask for at most: far beyond any real receipt or balance, and far
# within the columns that add them up (a day's spend, a month's statement), so that a typo
# or an attack is refused with a message, never a database overflow.
MAX_RECEIPT_AMOUNT = Decimal("9999999999.99")
MAX_POINTS = 10**15


def _program_settings_load() -> ProgramSettings:
    return ProgramSettings.objects.get_or_create(id=1)[0]


_program_cache = ProcessCache(_program_settings_load)


def program_settings() -> ProgramSettings:
    """The program's settings; a change made elsewhere is seen within 5 seconds."""
    return _program_cache.get()


def program_settings_cache_clear() -> None:
    _program_cache.clear()


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    years, month_index = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def points_expire_at(program: ProgramSettings, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire under the program's policy (None: never)."""
    if program.expiry_months == 0:
        return None
    expires = add_months(earned_at, program.expiry_months)
    if program.expiry_period == ProgramSettings.ExpiryPeriod.EXACT:
        return expires
    return _period_end(timezone.localtime(expires), program.expiry_period)


def _period_end(moment: datetime, period: str) -> datetime:
    """The last microsecond of the month, quarter or year containing `moment` (its timezone)."""
    last_month = {
        ProgramSettings.ExpiryPeriod.MONTH_END: moment.month,
        ProgramSettings.ExpiryPeriod.QUARTER_END: (moment.month - 1) // 3 * 3 + 3,
        ProgramSettings.ExpiryPeriod.YEAR_END: 12,
    }[ProgramSettings.ExpiryPeriod(period)]
    last_day = calendar.monthrange(moment.year, last_month)[1]
    return moment.replace(
        month=last_month, day=last_day, hour=23, minute=59, second=59, microsecond=999999
    )


def points_release_at(program: ProgramSettings, earned_at: datetime) -> datetime:
    return earned_at + timedelta(days=program.pending_days)


def program_settings_update(**fields: Any) -> ProgramSettings:
    program, _created = ProgramSettings.objects.get_or_create(id=1)
    for name, value in fields.items():
        setattr(program, name, value)
    program.full_clean()
    program.save()
    program_settings_cache_clear()
    return program
