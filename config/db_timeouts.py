"""Nothing waits forever: each kind of process bounds its database sessions.

A web request must answer a till within seconds, so its statements, its waits for a lock
and an idle transaction are cut short (a statement that runs out of time rolls back and
the API answers 503 unavailable, for the till to retry with the same key). Celery's jobs
and imports get longer bounds. Management commands (migrate, import_cards run by hand)
get none: an operator watches them.

The bounds are set on each new connection of the process (Django's `connection_created`),
by the entry point: config/wsgi.py and config/asgi.py for the web, config/celery.py for
the workers.
"""

from functools import partial
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

WEB, JOBS = "web", "jobs"


def timeouts_apply(role: str) -> None:
    """Bound every database session this process opens from now on as `role` says."""
    connection_created.connect(
        partial(_session_bound, role=role), weak=False, dispatch_uid="database-timeouts"
    )


def _session_bound(sender: Any, connection: Any, role: str, **kwargs: Any) -> None:
    bounds = settings.DATABASE_TIMEOUTS[role]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('lock_timeout', %s, false), "
            "set_config('idle_in_transaction_session_timeout', %s, false)",
            [f"{bounds[name]}ms" for name in ("statement", "lock", "idle_in_transaction")],
        )
