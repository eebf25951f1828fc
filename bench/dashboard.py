"""The marketers' reports at scale: 1M members and 10M transfers.

    make bench-dashboard   # or: .venv/bin/python bench/dashboard.py [--members N] [--transfers N]

Seeds, in set-based SQL on a database of its own: members who joined over the
last 400 days (most with an email, some doubled, some with a birth date and
consents), their three ledger accounts and a card each, purchases with their
daily activity counters, and transfers between the program's system accounts
spread over the same days (points issued, redeemed and expired; they leave
member balances alone, so the ledger stays consistent). Then it times what the
jobs do (the dashboard's daily rollup, once for all history and as the
15-minute job does; the nightly cohorts) and what a marketer waits for: the
dashboard of the last 30 days (every query of it timed: the goal is under 1 s
each), the cohort table of a year, and the data-quality audit. Runs
`ledger_check` at the end.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bench_database_url, django_setup, ledger_check_exit_code, recreate_database

PANEL_BUDGET_S = 1.0
DAYS = 400


def seed(members: int, transfers: int, purchases: int) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    steps = [
        (
            "members",
            """
            INSERT INTO members_member (phone, email, full_name, birth_date, consent_email,
                consent_sms, consent_push, status, referral_code, source, created_at)
            SELECT '+7901' || lpad(g::text, 7, '0'),
                   CASE WHEN g %% 5 = 0 THEN ''
                        WHEN g %% 97 = 0 THEN 'shared' || (g %% 1000) || '@example.com'
                        ELSE 'm' || g || '@example.com' END,
                   'Member ' || g,
                   CASE WHEN g %% 3 = 0 THEN date '1960-01-01' + (g %% 15000) END,
                   g %% 2 = 0, g %% 3 = 0, false, 'active', 'D' || lpad(g::text, 10, '0'),
                   'pos', now() - random() * interval '400 days'
            FROM generate_series(1, %(members)s) g
            """,
        ),
        (
            "accounts",
            """
            INSERT INTO loyalty_account (kind, member_id, balance)
            SELECT kind, m.id, 0
            FROM members_member m CROSS JOIN (VALUES ('available'), ('pending'), ('debt')) k(kind)
            ORDER BY m.id
            """,
        ),
        (
            "cards",
            """
            INSERT INTO members_card (number, member_id, partner_id, status, is_virtual,
                issued_at, created_at)
            SELECT lpad(m.id::text, 13, '0'), m.id, p.id, 'active', false, m.created_at,
                   m.created_at
            FROM members_member m, partners_partner p WHERE p.code = 'main'
            """,
        ),
        (
            "purchases",
            """
            INSERT INTO loyalty_purchase (partner_id, card_id, member_id, receipt_id, amount,
                items, points_earned, points_redeemed, redeemed_value, applied_rules,
                refunded_amount, points_reversed, points_returned, fingerprint, created_at,
                cobrand_points)
            SELECT c.partner_id, c.id, c.member_id, 'B' || g, 100 + (g %% 4900), '[]', 0, 0, 0,
                   '[]', 0, 0, 0, 'bench',
                   c.issued_at + random() * (now() - c.issued_at), 0
            FROM generate_series(1, %(purchases)s) g
            JOIN members_card c ON c.id = 1 + (g::bigint * 7919) %% %(members)s
            """,
        ),
        (
            "activity counters",
            """
            INSERT INTO loyalty_memberactivity (member_id, day, spend, purchases, points)
            SELECT member_id, (created_at AT TIME ZONE %(zone)s)::date, sum(amount), count(*), 0
            FROM loyalty_purchase GROUP BY 1, 2
            """,
        ),
        (
            "system accounts",
            """
            INSERT INTO loyalty_account (kind, member_id, partner_id, balance)
            SELECT kind, NULL, p.id, 0 FROM partners_partner p,
                   (VALUES ('issued'), ('redeemed')) k(kind)
            WHERE p.code = 'main'
            ON CONFLICT DO NOTHING
            """,
        ),
        (
            "transfers",
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT i.id, CASE WHEN g %% 10 < 7 THEN a.id WHEN g %% 10 < 9 THEN r.id ELSE e.id END,
                   1 + g %% 100, 'adjustment', 'bench',
                   now() - random() * interval '400 days'
            FROM generate_series(1, %(transfers)s) g,
                 (SELECT id FROM loyalty_account WHERE kind = 'issued' AND member_id IS NULL
                  LIMIT 1) i,
                 (SELECT id FROM loyalty_account WHERE kind = 'redeemed' AND member_id IS NULL
                  LIMIT 1) r,
                 (SELECT id FROM loyalty_account WHERE kind = 'expired' AND member_id IS NULL
                  LIMIT 1) e,
                 (SELECT id FROM loyalty_account WHERE kind = 'adjustments'
                  AND member_id IS NULL LIMIT 1) a
            """,
        ),
    ]
    params = {
        "members": members,
        "transfers": transfers,
        "purchases": purchases,
        "zone": settings.TIME_ZONE,
    }
    with connection.cursor() as cur:
        for name, sql in steps:
            started = time.perf_counter()
            cur.execute(sql, params)
            print(f"  seeded {name}: {cur.rowcount:,} rows in {time.perf_counter() - started:.1f}s")
        cur.execute("ANALYZE")


def timed(label: str, call: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    durations, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        durations.append(time.perf_counter() - started)
    median = statistics.median(durations)
    print(f"  {label}: {median * 1000:,.0f} ms" + (f" (median of {repeat})" if repeat > 1 else ""))
    return median, result


class QueryTimer:
    """Times every SQL statement run inside it (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--transfers", type=int, default=10_000_000)
    parser.add_argument("--purchases", type=int, default=3_000_000)
    args = parser.parse_args()
    database_url = bench_database_url("dashboard")
    recreate_database(database_url)
    django_setup(database_url)

    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from loyalty.reports import (
        cohort_table,
        cohorts_refresh,
        daily_figures_backfill,
        daily_figures_refresh_recent,
        dashboard,
    )
    from members.quality import quality_report

    print(
        f"Seeding {args.members:,} members, {args.purchases:,} purchases, "
        f"{args.transfers:,} transfers over {DAYS} days..."
    )
    started = time.perf_counter()
    seed(args.members, args.transfers, args.purchases)
    print(f"  (seeding took {time.perf_counter() - started:.0f}s)")

    print("Jobs:")
    timed("daily figures, all history (once, after an upgrade)", daily_figures_backfill)
    timed("daily figures, today and yesterday (every 15 minutes)", daily_figures_refresh_recent)
    timed("cohorts (nightly)", cohorts_refresh)

    today = timezone.localdate()
    print("What a marketer waits for:")
    board_s, _board = timed(
        "dashboard, last 30 days", lambda: dashboard(today - timedelta(days=29), today), 5
    )
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        dashboard(today - timedelta(days=29), today)
    slowest = max(timer.queries)
    print(
        f"    {len(timer.queries)} queries; the slowest {slowest[0] * 1000:,.0f} ms: "
        f"{' '.join(slowest[1].split())[:110]}..."
    )
    year_s, _rows = timed(
        "cohort table, 12 months", lambda: cohort_table(today - timedelta(days=365), today), 5
    )
    quality_s, _report = timed("data-quality audit", quality_report, 3)

    within = slowest[0] < PANEL_BUDGET_S
    print(
        f"Every dashboard query under {PANEL_BUDGET_S:.0f} s: {'yes' if within else 'NO'} "
        f"(whole dashboard {board_s:.2f} s, cohorts {year_s:.2f} s, audit {quality_s:.2f} s)"
    )
    return ledger_check_exit_code() or (0 if within else 1)


if __name__ == "__main__":
    sys.exit(main())
