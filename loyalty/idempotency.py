"""Idempotent operations: an answer given once per key, whatever happens to the client.

The key is claimed by a unique insert inside the transaction that does the work. A second
request with the same key blocks on the unique index until the first commits (then it
replays the stored answer) or rolls back (then it does the work itself). A key reused with
a different request is refused and nothing is written. The operation itself knows nothing
of keys or answers: it returns what happened, and the caller's `answer` turns that into the
status and body that are stored and sent.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partners.models import Partner

from .db_faults import transaction_retryable
from .exceptions import IdempotencyConflict, InvalidRequest
from .fingerprints import request_fingerprint
from .models import IdempotencyRecord

MAX_KEY_LENGTH = 255
# A deadlock or serialization failure is retried this many times in all before it is
# answered as the database being unavailable.
TRANSACTION_ATTEMPTS = 3


@dataclass(frozen=True)
class Answer:
    """What an operation answers: an HTTP status and a JSON-ready body."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


_CLAIM_SQL = (
    "INSERT INTO loyalty_idempotencyrecord (partner_id, key, fingerprint, created_at) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (partner_id, key) DO NOTHING RETURNING id"
)


def idempotent_answer[Result](
    *,
    partner: Partner,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    run: Callable[[], Result],
    answer: Callable[[Result], Answer],
) -> Answer:
    """Run the operation and answer it once per `key` (None: no key, always run).

    `request` is what makes two requests the same (its fingerprint is kept with the key);
    the claim, the work and the stored answer commit or roll back together.
    """
    fingerprint = request_fingerprint(operation, **request)
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                record_id, replay = _claim(partner, key, fingerprint)
                if replay is not None:
                    return replay
                given = answer(run())
                if record_id is not None:
                    IdempotencyRecord.objects.filter(pk=record_id).update(
                        response_status=given.status, response_body=given.body
                    )
                return given
        except OperationalError as error:
            # A deadlock or serialization failure rolled everything back: run it again
            # whole, unless this is only part of a caller's transaction.
            again = attempt < TRANSACTION_ATTEMPTS and not connection.in_atomic_block
            if not (again and transaction_retryable(error)):
                raise
            attempt += 1


def _claim(partner: Partner, key: str | None, fingerprint: str) -> tuple[int | None, Answer | None]:
    """The claimed record's id, or the stored answer to replay."""
    if key is None:
        return None, None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            _("Idempotency-Key must be 1 to %(max)d characters.") % {"max": MAX_KEY_LENGTH},
            field="Idempotency-Key",
        )
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [partner.pk, key, fingerprint, timezone.now()])
        row = cursor.fetchone()
    if row is not None:
        return row[0], None
    stored = IdempotencyRecord.objects.get(partner=partner, key=key)
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict()
    assert stored.response_status is not None, "claimed keys are stored in the same transaction"
    return None, Answer(stored.response_status, stored.response_body or {}, replayed=True)
