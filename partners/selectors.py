from .models import OPERATOR_PARTNER_CODE, Partner


def operator_partner() -> Partner:
    """The operator's own brand, which migrations create."""
    return Partner.objects.get(code=OPERATOR_PARTNER_CODE)
