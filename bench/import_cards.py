"""Legacy card import at scale: 1M rows of a messy export, end to end.

    make bench-import     # or: .venv/bin/python bench/import_cards.py [--rows N]

Writes a Windows-1251, semicolon-separated file with Russian headers, phones
typed three ways, decimal commas and dd.mm.yyyy dates, then measures in one run:
  (a) the physical floor: PostgreSQL's plain COPY of the raw file into one table;
  (b) `manage.py import_cards FILE` in its own process (members, cards, three
      accounts each, opening balance transfers and lots), wall time and peak
      memory (goal: under 60 s and 512 MB for 1M rows);
  (c) django-import-export importing 10,000 of the rows row by row as members
      (the common approach; it does less: no cards, accounts or balances),
      extrapolated to the whole file.
Prints the figures and ratios, then runs `ledger_check`.
"""

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, bench_database_url, django_setup, ledger_check_exit_code, recreate_database

SAMPLE_ROWS = 10_000
FIRST_NAMES = ["Анна", "Иван", "Ольга", "Пётр", "Мария", "Дмитрий", "Елена", "Сергей"]
LAST_NAMES = ["Иванова", "Петров", "Смирнова", "Соколов", "Волкова", "Кузнецов"]


def file_write(path: Path, rows: int) -> int:
    """The export; returns the total of its balances."""
    from members.ean import ean13_from_serial

    rng = random.Random(2026)
    today = date.today()
    total = 0
    with path.open("w", encoding="cp1251", newline="") as out:
        out.write("Номер карты;Телефон;ФИО;Баланс;Дата выдачи\r\n")
        for serial in range(1, rows + 1):
            digits = f"912{serial:07d}"
            phone = rng.choice(
                [
                    f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
                    f"+7 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}",
                    digits,
                ]
            )
            balance = rng.choice([0, 0, rng.randint(1, 999), rng.randint(1000, 20000)])
            total += balance
            shown = str(balance)
            if balance >= 1000:  # "12 345,00": a space for thousands, a decimal comma
                shown = f"{balance // 1000} {balance % 1000:03d},00"
            name = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
            issued = (today - timedelta(days=rng.randint(0, 300))).strftime("%d.%m.%Y")
            out.write(f'{ean13_from_serial("4600", serial)};{phone};"{name}";{shown};{issued}\r\n')
    return total


def copy_floor(path: Path) -> float:
    """Plain COPY of the raw file into one table of text columns."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_raw_import "
            "(card text, phone text, name text, balance text, issued text)"
        )
        cursor.execute("TRUNCATE bench_raw_import")
        started = time.perf_counter()
        sql = (
            "COPY bench_raw_import FROM STDIN "
            "WITH (FORMAT csv, DELIMITER ';', HEADER true, ENCODING 'WIN1251')"
        )
        with cursor.copy(sql) as copy, path.open("rb") as source:
            while block := source.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_raw_import")
    return elapsed


def import_run(path: Path, database_url: str) -> tuple[float, float, str]:
    """`manage.py import_cards` in a child process: seconds, peak MB, its output and the
    time of each of its steps (logged on stderr)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_cards", str(path)],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import_cards failed:\n{result.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    steps = [line for line in result.stderr.splitlines() if " took " in line]
    return elapsed, peak_mb, "\n".join([*result.stdout.splitlines(), *steps])


def row_by_row(path: Path) -> float:
    """django-import-export's import of the first SAMPLE_ROWS rows as members; rows per second."""
    import tablib
    from import_export import fields, resources

    from members.models import Member
    from members.phones import phone_normalize

    class MemberResource(resources.ModelResource):
        phone = fields.Field(attribute="phone", column_name="phone")
        full_name = fields.Field(attribute="full_name", column_name="full_name")
        referral_code = fields.Field(attribute="referral_code", column_name="referral_code")
        source = fields.Field(attribute="source", column_name="source")

        class Meta:
            model = Member
            fields = ("phone", "full_name", "referral_code", "source")
            import_id_fields = ("phone",)

    dataset = tablib.Dataset(headers=["phone", "full_name", "referral_code", "source"])
    with path.open(encoding="cp1251") as source:
        next(source)
        for index, line in zip(range(SAMPLE_ROWS), source, strict=False):
            _card, phone, name, _balance, _issued = line.rstrip("\r\n").split(";")
            # Other numbers than the file's, which import_cards has just taken.
            fresh = phone_normalize(phone).replace("+7912", "+7913", 1)
            dataset.append([fresh, name.strip('"'), f"IE{index:08d}", "import"])
    started = time.perf_counter()
    result = MemberResource().import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - started
    assert result.totals["new"] == SAMPLE_ROWS, result.totals
    # Rows without accounts, cards or balances are not members of the program: measured,
    # they go, so that ledger_check judges what import_cards made.
    Member.objects.filter(referral_code__startswith="IE").delete()
    return SAMPLE_ROWS / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    database_url = bench_database_url("bench_import")
    recreate_database(database_url)
    django_setup(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "legacy-cards.csv"
        started = time.perf_counter()
        total = file_write(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(
            f"wrote {args.rows:,} rows ({size_mb:.0f} MB, cp1251, ';') "
            f"in {time.perf_counter() - started:.1f}s"
        )
        floor = copy_floor(path)
        print(f"(a) plain COPY of the raw file:   {floor:6.1f} s")
        elapsed, peak_mb, output = import_run(path, database_url)
        print(
            f"(b) import_cards end to end:     {elapsed:6.1f} s, peak {peak_mb:.0f} MB "
            f"(goal < 60 s, < 512 MB); {elapsed / floor:.1f}x the COPY floor"
        )
        for line in output.splitlines():
            print(f"      {line}")
        from django.db.models import Sum

        from loyalty.models import Transfer

        imported = Transfer.objects.filter(code="migration").aggregate(s=Sum("amount"))["s"]
        print(f"      file total {total:,} points, ledger migration total {imported:,} points")
        rate = row_by_row(path)
        estimate = args.rows / rate
        print(
            f"(c) django-import-export, row by row: {rate:.0f} rows/s on {SAMPLE_ROWS:,} members "
            f"-> {estimate:.0f} s for the file, {estimate / elapsed:.0f}x import_cards"
        )
    checked = ledger_check_exit_code()
    return checked or (0 if imported == total else 1)


if __name__ == "__main__":
    sys.exit(main())
