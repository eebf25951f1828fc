"""Nightly expiry at scale: 1M members holding 5M lots, 5,000 lots expiring per day.

    make bench-expiry     # or: .venv/bin/python bench/expiry.py [--members N]

Measures the expiry job for one day's lots (goal < 2 s), then for a 100-day
backlog of about 500k lots (goal < 40 s) with one worker and again (the next
100 days) with two partitioned workers, and runs `ledger_check` after.
"""

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (
    bench_database_url,
    django_setup,
    ledger_check_exit_code,
    members_with_accounts_insert,
    recreate_database,
)

LOTS_PER_MEMBER = 5
DAYS = 1000
FIRST_EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)


def seed(members: int) -> None:
    """Members with accounts, one migration transfer and one lot per grant, in SQL."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cur:
        migration = members_with_accounts_insert(cur, members, code_prefix="E")
        cur.execute(
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT %s, a.id, 10 + (k * 7 + a.id) %% 90, 'migration', 'bench lot', now()
            FROM loyalty_account a CROSS JOIN generate_series(1, %s) k
            WHERE a.kind = 'available'
            """,
            [migration, LOTS_PER_MEMBER],
        )
        # Lots spread evenly over DAYS expiry dates: DAYS / (members * lots) per day.
        cur.execute(
            """
            INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, expires_at,
                created_at)
            SELECT t.credit_account_id, t.id, t.amount, t.amount,
                   %s + ((row_number() OVER (ORDER BY t.id)) %% %s) * interval '1 day'
                      + interval '12 hours',
                   t.created_at
            FROM loyalty_transfer t WHERE t.code = 'migration'
            """,
            [FIRST_EXPIRY, DAYS],
        )
        cur.execute(
            """
            UPDATE loyalty_account a SET balance = s.points
            FROM (SELECT account_id, SUM(remaining) AS points FROM loyalty_lot
                  GROUP BY account_id) s
            WHERE s.account_id = a.id
            """
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FROM loyalty_lot")
        lots = cur.fetchone()[0]
    print(f"seeded {members:,} members and {lots:,} lots in {time.perf_counter() - started:.0f}s")


def expire_until(moment: datetime, workers: int = 1) -> tuple[int, int, float]:
    from loyalty.jobs import lots_expire_due_parallel
    from loyalty.models import Transfer

    before = Transfer.objects.filter(code="expiry").count()
    started = time.perf_counter()
    points = lots_expire_due_parallel(now=moment, workers=workers)
    elapsed = time.perf_counter() - started
    lots = Transfer.objects.filter(code="expiry").count() - before
    return lots, points, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    database_url = bench_database_url("bench_expiry")
    recreate_database(database_url)
    django_setup(database_url)
    seed(args.members)

    one_day = FIRST_EXPIRY + timedelta(days=1)
    lots, points, elapsed = expire_until(one_day)
    print(
        f"one day's expiry:      {lots:7,} lots, {points:10,} points in {elapsed:5.2f}s (goal < 2s)"
    )
    for workers, days in ((1, 100), (2, 200)):
        lots, points, elapsed = expire_until(one_day + timedelta(days=days), workers=workers)
        print(
            f"100-day backlog, {workers} worker{'s' if workers > 1 else ' '}: {lots:7,} lots, "
            f"{points:10,} points in {elapsed:5.2f}s (goal < 40s)"
        )
    lots, _points, elapsed = expire_until(one_day + timedelta(days=200), workers=2)
    print(f"run again:             {lots:7,} lots in {elapsed:5.2f}s (idempotent: nothing left)")

    return ledger_check_exit_code()


if __name__ == "__main__":
    sys.exit(main())
