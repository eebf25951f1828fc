import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, Outlet, Partner


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, partner: Partner, outlet: Outlet | None = None, name: str = "") -> str:
    """Create a key and return it in full; it cannot be recovered later."""
    if outlet is not None and outlet.partner_id != partner.pk:
        raise ValueError("The outlet belongs to another partner.")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    ApiKey.objects.create(
        partner=partner, outlet=outlet, name=name, prefix=prefix, secret_hash=_digest(secret)
    )
    return f"{prefix}.{secret}"


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    prefix, _, secret = raw_key.strip().partition(".")
    if not prefix or not secret:
        return None
    key = (
        ApiKey.objects.select_related("partner", "outlet")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
        return None
    if key.partner.status != Partner.Status.ACTIVE:
        return None
    return key


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
