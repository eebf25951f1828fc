"""Idempotency keys, claimed by a unique insert inside the transaction doing the work.

A second request with the same key blocks on the unique index until the first
commits (then it replays the stored response) or rolls back (then it does the
work itself). A key reused with a different request is refused and nothing is
written.
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner

from .exceptions import IdempotencyConflict, InvalidRequest
from .models import IdempotencyRecord

MAX_KEY_LENGTH = 255


@dataclass
class OperationResult:
    """What an operation answers: an HTTP-like status and a JSON-ready body."""

    status: int
    body: dict[str, Any]
    replayed: bool = field(default=False)


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value.normalize())
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def request_fingerprint(operation: str, **params: Any) -> str:
    """A digest of the request's meaning: `1234.5` and `1234.50` are the same amount."""
    canonical = json.dumps(
        {"operation": operation, **params}, sort_keys=True, default=_json_default
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyClaim:
    def __init__(self, record_id: int | None, replay: OperationResult | None) -> None:
        self.record_id = record_id
        self.replay = replay

    def store(self, result: OperationResult) -> None:
        if self.record_id is not None:
            IdempotencyRecord.objects.filter(pk=self.record_id).update(
                response_status=result.status, response_body=result.body
            )


_CLAIM_SQL = (
    "INSERT INTO loyalty_idempotencyrecord (partner_id, key, fingerprint, created_at) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (partner_id, key) DO NOTHING RETURNING id"
)


def idempotency_claim(*, partner: Partner, key: str | None, fingerprint: str) -> IdempotencyClaim:
    """Claim `key` for this transaction; must be called inside transaction.atomic()."""
    if key is None:
        return IdempotencyClaim(None, None)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            _("Idempotency-Key must be 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH},
            field="Idempotency-Key",
        )
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [partner.pk, key, fingerprint, timezone.now()])
        row = cursor.fetchone()
    if row is not None:
        return IdempotencyClaim(row[0], None)
    stored = IdempotencyRecord.objects.get(partner=partner, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict()
    assert stored.response_status is not None, "claimed keys are stored in the same transaction"
    replay = OperationResult(stored.response_status, stored.response_body or {}, replayed=True)
    return IdempotencyClaim(None, replay)
