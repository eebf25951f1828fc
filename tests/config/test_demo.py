"""`make demo` runs on SQLite with eager Celery: prove its steps work there end to end."""

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


def test_demo_migrates_and_seeds_a_consistent_program_on_sqlite(tmp_path):
    database = tmp_path / "demo.sqlite3"
    assert manage("migrate", "--noinput", database=database).returncode == 0
    seeded = manage("seed_demo", "--members", "12", database=database)
    assert seeded.returncode == 0, seeded.stderr
    assert "Ledger consistent." in seeded.stdout
    assert "marketer  / marketer-demo-2026" in seeded.stdout
    assert "POS API key:" in seeded.stdout


def test_transfers_are_immutable_on_sqlite_too(tmp_path):
    database = tmp_path / "demo.sqlite3"
    manage("migrate", "--noinput", database=database)
    manage("seed_demo", "--members", "12", database=database)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM loyalty_transfer").fetchone()[0] > 0
        for statement in ("UPDATE loyalty_transfer SET amount = 1", "DELETE FROM loyalty_transfer"):
            with pytest.raises(sqlite3.IntegrityError, match="immutable"):
                conn.execute(statement)
