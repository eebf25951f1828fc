"""`make demo` runs on SQLite with eager Celery: prove its steps work there end to end."""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, database):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": f"sqlite:///{database}",
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A demo database, migrated and seeded once; each test works on its own copy."""
    database = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    migrated = manage("migrate", "--noinput", database=database)
    assert migrated.returncode == 0, migrated.stderr
    result = manage("seed_demo", "--members", "12", database=database)
    assert result.returncode == 0, result.stderr
    return database, result.stdout


@pytest.fixture
def database(seeded, tmp_path):
    copy = tmp_path / "demo.sqlite3"
    shutil.copyfile(seeded[0], copy)
    return copy


def test_demo_migrates_and_seeds_a_consistent_program_on_sqlite(seeded):
    _database, output = seeded
    assert "Ledger consistent." in output
    assert "marketer  / marketer-demo-2026" in output
    assert "POS API key:" in output


def test_transfers_are_immutable_on_sqlite_too(database):
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM loyalty_transfer").fetchone()[0] > 0
        for statement in ("UPDATE loyalty_transfer SET amount = 1", "DELETE FROM loyalty_transfer"):
            with pytest.raises(sqlite3.IntegrityError, match="immutable"):
                conn.execute(statement)


def test_legacy_cards_import_on_sqlite(database, tmp_path):
    source = tmp_path / "legacy.csv"
    source.write_bytes(
        "Номер карты;Телефон;ФИО;Баланс\n"
        "7770000000012;8 (913) 111-22-33;Иванов Иван;1 234\n"
        "7770000000029;;Петрова;0\n"
        "7770000000099;;Ошибка;5\n".encode("cp1251")
    )
    first = manage("import_cards", str(source), database=database)
    assert first.returncode == 0, first.stderr
    assert "3 rows read: 2 created, 0 updated, 0 skipped, 1 with errors." in first.stdout
    again = manage("import_cards", str(source), database=database)
    assert "0 created, 0 updated, 2 skipped" in again.stdout
    checked = manage("ledger_check", database=database)
    assert checked.returncode == 0, checked.stdout
    with sqlite3.connect(database) as conn:
        balance = conn.execute(
            "SELECT a.balance FROM loyalty_account a "
            "JOIN members_card c ON c.member_id = a.member_id "
            "WHERE c.number = '7770000000012' AND a.kind = 'available'"
        ).fetchone()[0]
    assert balance == 1234
