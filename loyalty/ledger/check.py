"""Verification of every ledger invariant with set-based SQL (no per-row Python).

Each check is a query returning the rows that breach it; an empty result
means the invariant holds. Used by `manage.py ledger_check`, the tests and
the benchmarks.
"""

from dataclasses import dataclass

from django.db import connection

SAMPLE = 20

_MOVEMENTS = """
    SELECT credit_account_id AS account_id, amount AS delta FROM loyalty_transfer
    UNION ALL
    SELECT debit_account_id, -amount FROM loyalty_transfer
"""

CHECKS: list[tuple[str, str]] = [
    (
        "stored member balance equals the sum of its transfers",
        f"""
        WITH net AS (SELECT account_id, SUM(delta) AS net FROM ({_MOVEMENTS}) m GROUP BY account_id)
        SELECT a.id, a.member_id, a.kind, a.balance, COALESCE(net.net, 0)
        FROM loyalty_account a LEFT JOIN net ON net.account_id = a.id
        WHERE a.member_id IS NOT NULL
          AND a.balance <> CASE WHEN a.kind = 'debt' THEN -COALESCE(net.net, 0)
                                ELSE COALESCE(net.net, 0) END
        """,
    ),
    (
        "every member has its three accounts, ids ascending available < pending < debt",
        """
        SELECT m.id, array_agg(a.kind ORDER BY a.id) FROM members_member m
        LEFT JOIN loyalty_account a ON a.member_id = m.id
        GROUP BY m.id
        HAVING array_agg(a.kind ORDER BY a.id) <> ARRAY['available', 'pending', 'debt']::varchar[]
        """,
    ),
    (
        "no member balance is negative",
        "SELECT id, member_id, kind, balance FROM loyalty_account WHERE balance < 0",
    ),
    (
        "system accounts are not materialized (stored balance 0)",
        "SELECT id, kind, balance FROM loyalty_account WHERE member_id IS NULL AND balance <> 0",
    ),
    (
        "remaining lots equal the balance of available and pending accounts",
        """
        SELECT a.id, a.member_id, a.kind, a.balance, COALESCE(SUM(l.remaining), 0)
        FROM loyalty_account a LEFT JOIN loyalty_lot l ON l.account_id = a.id
        WHERE a.kind IN ('available', 'pending')
        GROUP BY a.id, a.member_id, a.kind, a.balance
        HAVING a.balance <> COALESCE(SUM(l.remaining), 0)
        """,
    ),
    (
        "lots belong to available or pending accounts, release date only when pending",
        """
        SELECT l.id, a.kind, l.release_at FROM loyalty_lot l
        JOIN loyalty_account a ON a.id = l.account_id
        WHERE a.kind NOT IN ('available', 'pending')
           OR (a.kind = 'pending' AND l.release_at IS NULL)
           OR (a.kind = 'available' AND l.release_at IS NOT NULL)
        """,
    ),
    (
        "each lot was opened by a credit of its own amount to its own account",
        """
        SELECT l.id, l.amount, t.amount FROM loyalty_lot l
        JOIN loyalty_transfer t ON t.id = l.transfer_id
        WHERE t.credit_account_id <> l.account_id OR t.amount <> l.amount
           OR l.remaining < 0 OR l.remaining > l.amount
        """,
    ),
    (
        "each purchase's points match its transfers (earned, redeemed, reversed, returned)",
        """
        WITH flows AS (
            SELECT t.purchase_id,
                SUM(CASE WHEN d.kind = 'issued' AND t.refund_id IS NULL
                    THEN t.amount ELSE 0 END) AS earned,
                SUM(CASE WHEN c.kind = 'redeemed' THEN t.amount ELSE 0 END) AS redeemed,
                SUM(CASE WHEN c.kind = 'issued' THEN t.amount ELSE 0 END) AS reversed,
                SUM(CASE WHEN d.kind = 'redeemed' THEN t.amount ELSE 0 END) AS returned
            FROM loyalty_transfer t
            JOIN loyalty_account d ON d.id = t.debit_account_id
            JOIN loyalty_account c ON c.id = t.credit_account_id
            WHERE t.purchase_id IS NOT NULL
            GROUP BY t.purchase_id
        )
        SELECT p.id, p.points_earned, COALESCE(f.earned, 0), p.points_redeemed,
               COALESCE(f.redeemed, 0), p.points_reversed, COALESCE(f.reversed, 0),
               p.points_returned, COALESCE(f.returned, 0)
        FROM loyalty_purchase p LEFT JOIN flows f ON f.purchase_id = p.id
        WHERE p.points_earned <> COALESCE(f.earned, 0)
           OR p.points_redeemed <> COALESCE(f.redeemed, 0)
           OR p.points_reversed <> COALESCE(f.reversed, 0)
           OR p.points_returned <> COALESCE(f.returned, 0)
        """,
    ),
    (
        "each purchase's refunds add up to its refunded totals",
        """
        WITH r AS (
            SELECT purchase_id, SUM(amount) AS amount, SUM(points_reversed) AS reversed,
                   SUM(points_returned) AS returned
            FROM loyalty_refund GROUP BY purchase_id
        )
        SELECT p.id, p.refunded_amount, COALESCE(r.amount, 0) FROM loyalty_purchase p
        LEFT JOIN r ON r.purchase_id = p.id
        WHERE p.refunded_amount <> COALESCE(r.amount, 0)
           OR p.points_reversed <> COALESCE(r.reversed, 0)
           OR p.points_returned <> COALESCE(r.returned, 0)
        """,
    ),
]


@dataclass
class Breach:
    invariant: str
    rows: list[tuple]


def ledger_breaches() -> list[Breach]:
    breaches = []
    with connection.cursor() as cursor:
        for invariant, sql in CHECKS:
            cursor.execute(f"{sql} LIMIT {SAMPLE}")
            rows = cursor.fetchall()
            if rows:
                breaches.append(Breach(invariant, rows))
    return breaches
