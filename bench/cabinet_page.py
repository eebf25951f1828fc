"""The cabinet's page budget: a member with 100,000 transfers.

    make bench-cabinet     # or: .venv/bin/python bench/cabinet_page.py [--transfers N]

Seeds one member (card, login) whose history holds N transfers (credits with
their lots, redemptions, pending points, lots expiring within 30 days), then
renders the cabinet's home page, its history and the rewards page in-process
through Django's test client, and prints SQL queries and server time per page
(goal for the home page: at most 12 queries and under 50 ms). Runs
`ledger_check` at the end.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (
    bench_database_url,
    card_number,
    django_setup,
    ledger_check_exit_code,
    members_with_accounts_insert,
    recreate_database,
)

HOME_QUERY_BUDGET = 12
HOME_MS_BUDGET = 50.0


def seed(transfers: int) -> None:
    """One member's long history, in set-based SQL; the ledger stays consistent."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from members.models import Card, Member
    from partners.models import Partner

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    credits, debits, pending = transfers * 6 // 10, transfers * 4 // 10 - 100, 100
    with connection.cursor() as cur:
        migration = members_with_accounts_insert(cur, 1, code_prefix="C")
        cur.execute("SELECT id, kind FROM loyalty_account WHERE member_id IS NOT NULL")
        accounts = {kind: account_id for account_id, kind in cur.fetchall()}
        cur.execute(
            "INSERT INTO loyalty_account (kind, member_id, partner_id, balance) "
            "SELECT 'redeemed', NULL, id, 0 FROM partners_partner WHERE code = 'main' "
            "ON CONFLICT DO NOTHING"
        )
        cur.execute("SELECT id FROM loyalty_account WHERE kind = 'redeemed' LIMIT 1")
        redeemed = cur.fetchone()[0]
        # Credits of 10 points over the last three years, each with its lot; the
        # newest ones expire within the next 30 days or later.
        cur.execute(
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT %s, %s, 10, 'migration', 'bench',
                   now() - interval '3 years' + g * (interval '3 years' / %s)
            FROM generate_series(1, %s) g
            """,
            [migration, accounts["available"], credits, credits],
        )
        cur.execute(
            """
            INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, expires_at,
                created_at)
            SELECT credit_account_id, id, amount, amount, created_at + interval '3 years'
                   - interval '20 days', created_at
            FROM loyalty_transfer WHERE code = 'migration'
            """
        )
        # Redemptions of 5 points, consuming the oldest lots whole (FIFO).
        cur.execute(
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT %s, %s, 5, 'redemption', 'bench',
                   now() - interval '3 years' + g * (interval '3 years' / %s)
            FROM generate_series(1, %s) g
            """,
            [accounts["available"], redeemed, debits, debits],
        )
        cur.execute(
            """
            UPDATE loyalty_lot SET remaining = 0 WHERE id IN (
                SELECT id FROM loyalty_lot ORDER BY expires_at, id LIMIT %s)
            """,
            [debits // 2],
        )
        cur.execute(
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT %s, %s, 7, 'migration', 'bench pending', now() - g * interval '1 hour'
            FROM generate_series(1, %s) g
            """,
            [migration, accounts["pending"], pending],
        )
        cur.execute(
            """
            INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, release_at,
                created_at)
            SELECT credit_account_id, id, amount, amount, created_at + interval '14 days',
                   created_at
            FROM loyalty_transfer WHERE credit_account_id = %s
            """,
            [accounts["pending"]],
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
        cur.execute("SELECT count(*) FROM loyalty_transfer")
        total = cur.fetchone()[0]
    member = Member.objects.get()
    user = User.objects.create_user("bench", email="bench@example.com")  # no password: force_login
    Member.objects.filter(pk=member.pk).update(user=user)
    Card.objects.create(
        number=card_number(1),
        member=member,
        partner=Partner.objects.get(code="main"),
        status=Card.Status.ACTIVE,
    )
    print(f"seeded one member with {total:,} transfers in {time.perf_counter() - started:.1f}s")


def measure(path: str, rounds: int) -> tuple[int, float, float]:
    """Queries of one render, then the median and worst server time over `rounds`."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    client.get(path)  # warm: templates compiled, caches filled
    queries: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    timings = []
    for _round in range(rounds):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    return len(queries), statistics.median(timings), max(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    database_url = bench_database_url("bench_cabinet")
    recreate_database(database_url)
    django_setup(database_url)
    seed(args.transfers)
    print(f"{'page':<12} {'queries':>8} {'median ms':>10} {'worst ms':>9}")
    home = None
    for name, path in [("home", "/"), ("history", "/history/"), ("rewards", "/rewards/")]:
        queries, median, worst = measure(path, args.rounds)
        home = home or (queries, median)
        print(f"{name:<12} {queries:>8} {median:>10.1f} {worst:>9.1f}")
    assert home is not None
    verdict = "met" if home[0] <= HOME_QUERY_BUDGET and home[1] < HOME_MS_BUDGET else "MISSED"
    print(
        f"home page budget (<= {HOME_QUERY_BUDGET} queries, < {HOME_MS_BUDGET:.0f} ms median): "
        f"{verdict}"
    )
    return ledger_check_exit_code()


if __name__ == "__main__":
    sys.exit(main())
