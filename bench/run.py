"""Reproducible throughput benchmark of the purchase path on PostgreSQL.

    make bench            # or: .venv/bin/python bench/run.py [--members N] [--seconds S]

Builds a dedicated database (`<DATABASE_URL name>_bench`) with N members, each
with a card and an opening balance, then measures in one run:
  (a) the raw SQL floor: pgbench doing the three statements of one accrual
      (lock the account, insert a transfer, update the balance), 1 and 8 clients;
  (b) `purchase_record` called in-process, 1 and 4 processes;
  (c) POST /api/v1/purchases/ over HTTP, gunicorn with 4 workers, loaded by wrk;
  (d) (b) with 1 process again, without and with 20 active earning rules;
  (e) the same without and with tier ladders (monthly status, lifetime discount
      ladder of three tiers, a club), every member holding a discount tier.
Prints rates and their ratios to (a), then runs `ledger_check` on the result.
"""

import argparse
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty")
HTTP_PORT = 8765
CARD_PREFIX = "299"


def bench_database_url(suffix: str = "bench") -> str:
    url = urlparse(BASE_URL)
    return urlunparse(url._replace(path=f"{url.path.rstrip('/')}_{suffix}"))


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["CELERY_BROKER_URL"] = ""
    import django

    django.setup()


def recreate_database(database_url: str) -> None:
    import psycopg

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    with psycopg.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# -- seeding -------------------------------------------------------------------------------------


def seed(members: int) -> None:
    """Members, accounts, cards and an opening balance each, in set-based SQL."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # as a deployment would
    started = time.perf_counter()
    with connection.cursor() as cur:
        migration_account = members_with_accounts_insert(cur, members, code_prefix="B")
        # Opening balances: one migration transfer and one lot per member.
        cur.execute(
            """
            INSERT INTO loyalty_transfer (debit_account_id, credit_account_id, amount, code,
                reference, created_at)
            SELECT %s, a.id, 500 + (a.member_id %% 1000), 'migration', 'bench opening balance',
                   now() - interval '30 days'
            FROM loyalty_account a WHERE a.kind = 'available' AND a.member_id IS NOT NULL
            """,
            [migration_account],
        )
        cur.execute(
            """
            INSERT INTO loyalty_lot (account_id, transfer_id, amount, remaining, expires_at,
                created_at)
            SELECT t.credit_account_id, t.id, t.amount, t.amount, now() + interval '11 months',
                   t.created_at
            FROM loyalty_transfer t WHERE t.code = 'migration'
            """
        )
        cur.execute(
            """
            UPDATE loyalty_account a SET balance = t.amount
            FROM loyalty_transfer t WHERE t.credit_account_id = a.id AND t.code = 'migration'
            """
        )
        cur.execute("VACUUM ANALYZE") if connection.get_autocommit() else None
    _cards(members)
    print(
        f"seeded {members} members with cards and opening balances in "
        f"{time.perf_counter() - started:.1f}s"
    )


def members_with_accounts_insert(cur: Any, members: int, *, code_prefix: str) -> int:
    """`members` active members (phones +7900…) with their three ledger accounts, in SQL.

    Returns the id of the program's migration account, the source of
    opening balances.
    """
    cur.execute(
        """
        INSERT INTO members_member (phone, email, full_name, consent_email, consent_sms,
            consent_push, status, referral_code, source, created_at)
        SELECT '+7900' || lpad(g::text, 7, '0'), '', 'Bench member ' || g, false, false,
               false, 'active', %s || lpad(g::text, 10, '0'), 'import', now()
        FROM generate_series(1, %s) g
        """,
        [code_prefix, members],
    )
    # One statement per kind, in this order: each member's ids ascend available < pending <
    # debt, as loyalty.ledger.member_accounts_open makes them.
    for kind in ("available", "pending", "debt"):
        cur.execute(
            "INSERT INTO loyalty_account (kind, member_id, balance) "
            "SELECT %s, id, 0 FROM members_member ORDER BY id",
            [kind],
        )
    cur.execute("SELECT id FROM loyalty_account WHERE kind = 'migration' AND member_id IS NULL")
    return int(cur.fetchone()[0])


def _cards(members: int) -> None:
    from django.db import connection

    from members.ean import ean13_from_serial

    operator_id = _operator_id()
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM members_member ORDER BY id")
        ids = [row[0] for row in cur.fetchall()]
        rows = [
            (ean13_from_serial(CARD_PREFIX, i), member_id, operator_id)
            for i, member_id in enumerate(ids)
        ]
        cur.executemany(
            "INSERT INTO members_card (number, member_id, partner_id, status, is_virtual, "
            "issued_at, created_at) VALUES (%s, %s, %s, 'active', false, now(), now())",
            rows,
        )


def _operator_id() -> int:
    from partners.models import Partner

    return Partner.objects.get(code="main").pk


def card_number(serial: int) -> str:
    from members.ean import ean13_from_serial

    return ean13_from_serial(CARD_PREFIX, serial)


# -- (a) pgbench ---------------------------------------------------------------------------------


PGBENCH_SCRIPT = """\
\\set mid random(1000001, {last_id})
BEGIN;
SELECT balance FROM bench_account WHERE id = :mid FOR UPDATE;
INSERT INTO bench_transfer (debit_account_id, credit_account_id, amount, code, reference,
    created_at) VALUES ({issued}, :mid, 10, 'purchase_earn', '', now());
UPDATE bench_account SET balance = balance + 10 WHERE id = :mid;
END;
"""


def pgbench(database_url: str, members: int, seconds: int) -> dict[int, float]:
    """The floor: the accrual's three statements in plain SQL on copies of the ledger tables."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_transfer, bench_account")
        cur.execute("CREATE TABLE bench_account (LIKE loyalty_account INCLUDING ALL)")
        cur.execute("CREATE TABLE bench_transfer (LIKE loyalty_transfer INCLUDING ALL)")
        cur.execute(
            "INSERT INTO bench_account (id, kind, member_id, partner_id, balance) "
            "SELECT 1000000 + row_number() OVER (ORDER BY id), kind, member_id, partner_id, "
            "balance "
            "FROM loyalty_account WHERE kind = 'pending'"
        )
        cur.execute("ANALYZE bench_account")
    issued = _system_account_id("issued")
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    # Copied ids start above 1,000,000 so they never equal the issued account's id.
    script.write_text(PGBENCH_SCRIPT.format(last_id=1_000_000 + members, issued=issued))
    url = urlparse(database_url)
    rates = {}
    for clients in (1, 8):
        result = subprocess.run(
            [
                "pgbench",
                "-n",
                "-h",
                url.hostname or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(seconds),
                "-f",
                str(script),
                url.path.lstrip("/"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
        rates[clients] = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))
    script.unlink()
    return rates


def _system_account_id(kind: str) -> int:
    from loyalty.ledger import system_account
    from partners.models import Partner

    return system_account(kind, Partner.objects.get(code="main")).pk


# -- (b) in-process ------------------------------------------------------------------------------


def _inprocess_worker(args: tuple[str, int, int, float, str]) -> int:
    database_url, members, worker, seconds, run = args
    django_setup(database_url)
    import random
    from decimal import Decimal

    from loyalty.answers import purchase_record_answer
    from partners.models import Partner

    operator = Partner.objects.get(code="main")
    rng = random.Random(worker)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        amount = Decimal(rng.randint(100, 500_000)) / 100
        category = rng.choice(["dairy", "bakery", "coffee"])
        receipt_id = f"inproc-{run}-{worker}-{done}"
        # As the API records it: the key claimed, the purchase, the answer stored.
        purchase_record_answer(
            partner=operator,
            outlet=None,
            key=receipt_id,
            card_number=card_number(rng.randrange(members)),
            receipt_id=receipt_id,
            amount=amount,
            items=[
                {"sku": f"{category}-1", "category": category, "qty": "1", "price": str(amount)}
            ],
            redeem_points=0,
        )
        done += 1
    return done


def inprocess(
    database_url: str, members: int, seconds: int, workers: tuple[int, ...] = (1, 4)
) -> dict[int, float]:
    rates = {}
    context = multiprocessing.get_context("spawn")
    for count in workers:
        with context.Pool(count) as pool:
            counts = pool.map(
                _inprocess_worker,
                [(database_url, members, w, seconds, f"{time.time_ns()}") for w in range(count)],
            )
        rates[count] = sum(counts) / seconds
    return rates


# -- (d) earning rules ---------------------------------------------------------------------------


def earning_rules_create(count: int) -> None:
    """`count` active rules of every kind; about a quarter match a typical receipt."""
    from loyalty.models import EarningRule

    kinds = [
        {"action": "multiply", "value": 2, "categories": "dairy"},
        {"action": "add_fixed", "value": 5, "min_amount": 1000},
        {"action": "percent", "value": 1, "weekdays": [5, 6]},
        {"action": "add_fixed", "value": 3, "hour_from": 6, "hour_to": 9},
    ]
    EarningRule.objects.bulk_create(
        [EarningRule(name=f"bench rule {i}", priority=i % 5, **kinds[i % 4]) for i in range(count)]
    )


def _interleaved(
    database_url: str, members: int, seconds: int, variants: dict[str, Any], reset: Any
) -> dict[str, float]:
    """purchase_record in one process under each variant, twice each, interleaved."""
    rates: dict[str, list[float]] = {label: [] for label in variants}
    for _round in range(2):
        for label, prepare in variants.items():
            reset()
            prepare()
            rates[label].append(inprocess(database_url, members, seconds, workers=(1,))[1])
    reset()
    return {label: sum(values) / len(values) for label, values in rates.items()}


def rules_overhead(database_url: str, members: int, seconds: int) -> dict[str, float]:
    from loyalty.models import EarningRule

    def reset() -> None:
        EarningRule.objects.all().delete()

    variants = {"none": lambda: None, "20 rules": lambda: earning_rules_create(20)}
    return _interleaved(database_url, members, seconds, variants, reset)


# -- (e) tiers -----------------------------------------------------------------------------------


def tiers_create(members: int) -> None:
    """The demo's ladders; every member has spent enough for the lowest discount tier."""
    from django.db import connection

    from loyalty.models import ClubPlan, MemberActivity, MemberTier, Tier, TierLadder

    status = TierLadder.objects.create(name="Status", window="calendar_month", grace_days=30)
    Tier.objects.create(
        ladder=status, name="VIP", rank=1, min_spend=10000, earn_multiplier=Decimal("1.5")
    )
    discount = TierLadder.objects.create(name="Discount", window="lifetime")
    lowest = None
    for rank, spend in enumerate([1000, 3000, 10000], start=1):
        tier = Tier.objects.create(
            ladder=discount, name=f"{rank}", rank=rank, min_spend=spend, discount_percent=rank
        )
        lowest = lowest or tier
    club = TierLadder.objects.create(name="Club", window="club")
    club_tier = Tier.objects.create(ladder=club, name="Club", rank=1, discount_percent=10)
    ClubPlan.objects.create(name="Club", tier=club_tier, fee=299, validity_days=30)
    assert lowest is not None
    with connection.cursor() as cursor:
        # A past visit worth the lowest tier, so that members hold it by right.
        cursor.execute(
            f"INSERT INTO {MemberActivity._meta.db_table} "
            "(member_id, day, spend, purchases, points) "
            "SELECT id, current_date - 100, 1500, 3, 15 FROM members_member"
        )
        cursor.execute(
            f"INSERT INTO {MemberTier._meta.db_table} (member_id, ladder_id, tier_id, since) "
            "SELECT id, %s, %s, now() FROM members_member",
            [discount.pk, lowest.pk],
        )


def tiers_overhead(database_url: str, members: int, seconds: int) -> dict[str, float]:
    from loyalty.models import ClubPlan, MemberActivity, MemberTier, Tier, TierChange, TierLadder

    def reset() -> None:
        for model in (TierChange, MemberTier, ClubPlan, Tier, TierLadder, MemberActivity):
            model.objects.all().delete()

    variants = {"none": lambda: None, "tiers": lambda: tiers_create(members)}
    return _interleaved(database_url, members, seconds, variants, reset)


# -- (c) HTTP ------------------------------------------------------------------------------------


WRK_SCRIPT = """
local cards = {{{cards}}}
local counter = 0
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
request = function()
  counter = counter + 1
  local key = "wrk-" .. tid .. "-" .. counter .. "-" .. {stamp}
  local card = cards[math.random(#cards)]
  local body = '{{"card": "' .. card .. '", "receipt_id": "' .. key .. '", "amount": "' ..
    math.random(1, 5000) .. '.50"}}'
  local headers = {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Api-Key {api_key}",
    ["Idempotency-Key"] = key,
  }}
  return wrk.format("POST", "/api/v1/purchases/", headers, body)
end
"""


def http(database_url: str, members: int, seconds: int) -> dict[str, float]:
    from partners.models import Partner
    from partners.services import api_key_create

    api_key = api_key_create(partner=Partner.objects.get(code="main"), name="bench")
    cards = ", ".join(f'"{card_number(i)}"' for i in range(0, members, max(1, members // 2000)))
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT.format(cards=cards, api_key=api_key, stamp=int(time.time())))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "CELERY_BROKER_URL": "",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{HTTP_PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_for_http(f"http://127.0.0.1:{HTTP_PORT}/health/")
        result = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                "8",
                "-d",
                f"{seconds}s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{HTTP_PORT}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        script.unlink()
    out = result.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wait_for_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback server
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer at {url}")


# -- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20, help="duration of each measurement")
    args = parser.parse_args()
    for tool in ("pgbench", "wrk"):
        if shutil.which(tool) is None:
            package = "postgresql-client" if tool == "pgbench" else tool
            print(f"{tool} is required (apt-get install {package})")
            return 1
    database_url = bench_database_url()
    recreate_database(database_url)
    django_setup(database_url)
    seed(args.members)

    floor = pgbench(database_url, args.members, args.seconds)
    print(f"(a) pgbench floor:           1 client {floor[1]:8.0f}/s   8 clients {floor[8]:8.0f}/s")
    local = inprocess(database_url, args.members, args.seconds)
    print(
        f"(b) purchase_record:         1 process {local[1]:7.0f}/s   4 processes {local[4]:6.0f}/s"
        f"   ratio to (a) 1 client: {local[1] / floor[1]:.2f} (goal >= 0.5)"
    )
    with_rules = rules_overhead(database_url, args.members, args.seconds)
    print(
        f"(d) purchase_record, 1 process: no rules {with_rules['none']:.0f}/s, 20 rules "
        f"{with_rules['20 rules']:.0f}/s: {with_rules['20 rules'] / with_rules['none']:.2f} "
        "(goal >= 0.85)"
    )
    with_tiers = tiers_overhead(database_url, args.members, args.seconds)
    print(
        f"(e) purchase_record, 1 process: no tiers {with_tiers['none']:.0f}/s, tiers "
        f"{with_tiers['tiers']:.0f}/s: {with_tiers['tiers'] / with_tiers['none']:.2f}"
    )
    served = http(database_url, args.members, args.seconds)
    print(
        f"(c) POST /api/v1/purchases/: {served['rate']:.0f}/s, p50 {served['p50_ms']:.1f} ms, "
        f"p99 {served['p99_ms']:.1f} ms, non-2xx {served['errors']:.0f}"
        f"   (goal >= 400/s, p99 < 100 ms); ratio to (a) 8 clients: "
        f"{served['rate'] / floor[8]:.2f}"
    )

    return ledger_check_exit_code()


def ledger_check_exit_code() -> int:
    """Run `ledger_check` on the benchmark database; every benchmark ends with it."""
    from django.core.management import call_command

    print("ledger_check on the benchmark database:")
    started = time.perf_counter()
    try:
        call_command("ledger_check")
    except SystemExit as exc:
        return int(exc.code or 1)
    print(f"(ledger_check took {time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
