from datetime import date

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
