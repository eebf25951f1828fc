"""Make sure PostgreSQL and Redis answer before the suite runs.

Creates the database named in DATABASE_URL when it is missing. Outside CI it
first tries to start a stopped service the way this machine's docs say; with
CI=true a missing service is a loud failure, never a silent skip.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import environ
import psycopg
import redis

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty")
# The broker the Celery worker tests use (see config.settings.test).
REDIS_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def postgres_ready() -> bool:
    # Read as the settings read it: a host may be a socket directory (the embedded server's).
    database = environ.Env.db_url_config(DATABASE_URL)
    if database.get("ENGINE") != "django.db.backends.postgresql":
        print("DATABASE_URL must point to PostgreSQL, the project's only database.")
        return False
    where = f"{database['HOST'] or 'the default socket'}:{database['PORT'] or 5432}"
    try:
        with psycopg.connect(
            host=database["HOST"] or None,
            port=database["PORT"] or 5432,
            user=database["USER"] or "postgres",
            password=database["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
            autocommit=True,
        ) as conn:
            name = database["NAME"]
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
                print(f"created database {name}")
        return True
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL unreachable at {where}: {exc}")
        return False


def redis_ready() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping())
    except redis.RedisError as exc:
        print(f"Redis unreachable at {REDIS_URL}: {exc}")
        return False


def start_postgres() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*"))
    if versions and shutil.which("pg_ctlcluster"):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
        )


def start_redis() -> None:
    if shutil.which("redis-server"):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )


def main() -> int:
    ok = True
    for name, ready, start in (
        ("PostgreSQL", postgres_ready, start_postgres),
        ("Redis", redis_ready, start_redis),
    ):
        if ready():
            continue
        if not CI:
            print(f"starting {name}...")
            start()
            time.sleep(2)
            if ready():
                continue
        print(f"FATAL: {name} is required by the test suite and is not reachable.")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
