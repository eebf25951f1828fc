"""The ledger's scheduled jobs: release pending points, expire lots, purge old keys.

Set-based: due lots are read in batches by keyset over partial indexes and
posted with the ledger's bulk forms, one short transaction per batch. Safe to
run twice or concurrently. Celery tasks and `manage.py run_job` call these.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from .ledger import Code, Kind, lots_debit_whole, pending_lots_release, system_account
from .models import IdempotencyRecord, Lot


def _due_batches(due: Any, moment_field: str, batch_size: int) -> Iterator[list[Any]]:
    """Yield batches of `(lot id, account id)` in `(moment_field, id)` order.

    Keyset paging: each batch starts after the last lot of the previous one,
    so a long run never walks again over index entries of lots it finished
    (they stay in the index until vacuum).
    """
    page = due
    while True:
        rows = list(page.order_by(moment_field, "id").values_list("id", "account_id")[:batch_size])
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]
        last_moment = Lot.objects.filter(id=last_id).values_list(moment_field, flat=True).get()
        page = due.filter(**{f"{moment_field}__gte": last_moment}).exclude(
            **{moment_field: last_moment, "id__lte": last_id}
        )


def pending_release_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Move pending points whose return window has passed to available. Returns points moved.

    Set-based like expiry: batches of due lots (partial index on release date),
    one short transaction each, safe to run twice or concurrently.
    """
    now = now or timezone.now()
    due = Lot.objects.filter(remaining__gt=0, release_at__isnull=False, release_at__lte=now)
    released = 0
    for batch in _due_batches(due, "release_at", batch_size):
        with transaction.atomic():
            released += pending_lots_release(
                lot_ids=[lot_id for lot_id, _account in batch], now=now
            )
    return released


def lots_expire_due(
    *,
    now: datetime | None = None,
    window: tuple[datetime | None, datetime] | None = None,
    batch_size: int = 2000,
) -> int:
    """Expire available points past their date into breakage. Returns points expired.

    Set-based: batches of due lots, earliest expiry first, through the partial
    index of open available lots; each batch is one short transaction. Safe to
    run twice or concurrently (lots are re-read under the account locks).
    `window=(after, until)` takes only lots expiring in that interval (all due
    lots by default), so several runs can share a backlog.
    """
    now = now or timezone.now()
    after, until = window or (None, now)
    due = Lot.objects.filter(remaining__gt=0, release_at__isnull=True, expires_at__lte=until)
    if after is not None:
        due = due.filter(expires_at__gt=after)
    breakage = system_account(Kind.EXPIRED)
    expired = 0
    for batch in _due_batches(due, "expires_at", batch_size):
        with transaction.atomic():
            expired += lots_debit_whole(lots=batch, credit=breakage, code=Code.EXPIRY, now=now)
    return expired


def lots_expire_due_parallel(*, now: datetime | None = None, workers: int = 2) -> int:
    """`lots_expire_due` over `workers` threads, each taking a slice of the backlog's dates.

    Slices may share an account now and then: the ordered locks make one run
    wait briefly for the other, and nothing moves twice.
    """
    now = now or timezone.now()
    if workers <= 1:
        return lots_expire_due(now=now)
    oldest = Lot.objects.filter(
        remaining__gt=0, release_at__isnull=True, expires_at__lte=now
    ).aggregate(oldest=Min("expires_at"))["oldest"]
    if oldest is None:
        return 0
    step = (now - oldest) / workers
    cuts = [oldest - timedelta(microseconds=1)] + [oldest + step * k for k in range(1, workers)]
    windows = list(zip(cuts, [*cuts[1:], now], strict=True))

    def run(window: tuple[datetime, datetime]) -> int:
        try:
            return lots_expire_due(now=now, window=window)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(run, windows))


def idempotency_keys_purge(
    *, now: datetime | None = None, keep_days: int = 30, batch_size: int = 5000
) -> int:
    """Delete idempotency keys older than `keep_days`; returns how many.

    A client retries within minutes, not weeks. After the key is gone a
    repeated purchase is still refused or replayed by its receipt id.
    """
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]
