"""The backup drill of docs/operations.md, run for real: the demo dumped with pg_dump,
restored into a fresh database with pg_restore, and its ledger proved there."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def client_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} (PostgreSQL's client tools) is needed for the backup drill"
    return path


def database_url(name: str) -> str:
    settings = connection.settings_dict
    host = settings["HOST"] or "localhost"
    return f"postgres://{settings['USER']}@{host}:{settings['PORT'] or 5432}/{name}"


def ledger_totals(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as database:
        row = database.execute(
            "SELECT (SELECT coalesce(sum(balance), 0) FROM loyalty_account), "
            "(SELECT count(*) FROM loyalty_transfer), (SELECT count(*) FROM loyalty_lot)"
        ).fetchone()
    assert row is not None
    return row


@pytest.mark.django_db(transaction=True)
def test_a_dump_of_the_demo_restores_and_its_ledger_is_proved(operator, tmp_path):
    call_command("seed_demo", "--members", "15")
    source = database_url(connection.settings_dict["NAME"])
    restored_name = f"{connection.settings_dict['NAME']}_restored"
    restored = database_url(restored_name)
    dump = tmp_path / "loyalty.dump"
    subprocess.run(
        [client_tool("pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={source}"],
        check=True,
    )
    with psycopg.connect(database_url("postgres"), autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{restored_name}"')
        server.execute(f'CREATE DATABASE "{restored_name}"')
    try:
        subprocess.run(
            [
                client_tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                f"--dbname={restored}",
                str(dump),
            ],
            check=True,
        )
        check = subprocess.run(
            [sys.executable, "manage.py", "ledger_check"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": restored,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
            },
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Ledger consistent." in check.stdout
        assert ledger_totals(restored) == ledger_totals(source)
    finally:
        with psycopg.connect(database_url("postgres"), autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{restored_name}"')
