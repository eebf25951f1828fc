from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from loyalty.cache import ProcessCache

from .models import OPERATOR_PARTNER_CODE, Partner, PartnerRate


def operator_partner() -> Partner:
    """The operator's own brand, which migrations create."""
    return Partner.objects.get(code=OPERATOR_PARTNER_CODE)


def partner_rate_on(partner: Partner, day: date) -> PartnerRate | None:
    """The rate in force on `day`: the latest one that started on or before it."""
    return (
        PartnerRate.objects.filter(partner=partner, valid_from__lte=day)
        .order_by("-valid_from")
        .first()
    )


@dataclass(frozen=True)
class Cobrand:
    partner_id: int
    name: str
    multiplier: Decimal


def _cobrands_load() -> dict[int, Cobrand]:
    rows = Partner.objects.filter(cobrand_multiplier__gt=1).values_list(
        "id", "name", "cobrand_multiplier"
    )
    return {pk: Cobrand(pk, name, multiplier) for pk, name, multiplier in rows}


_cobrands_cache = ProcessCache(_cobrands_load)


def cobrand_multipliers() -> dict[int, Cobrand]:
    """Partners whose co-branded cards earn extra, by id (the purchase path reads this)."""
    return _cobrands_cache.get()


def cobrand_multipliers_cache_clear() -> None:
    _cobrands_cache.clear()
