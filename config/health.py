"""Health for an orchestrator: liveness (the process answers) apart from readiness (it can
serve: the database answers and every migration is applied).

The broker is reported but does not make a worker unready: purchases and every other
write record their queued work in the database (the outbox, the jobs' tables), which the
workers catch up on once the broker is back. Answers carry nothing but the checks' names
and states, never an error's text.
"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection

BROKER_TIMEOUT_SECONDS = 1.0

# Migrations, once all applied, stay applied for this process's life: asked once.
_migrated = False


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """The process answers (a restart is the cure when it does not)."""
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Whether this worker can serve; 503 takes it out of the load balancer's rotation."""
    checks = {"database": _database(), "migrations": "unknown", "broker": _broker()}
    if checks["database"] == "ok":
        checks["migrations"] = _migrations()
    serving = checks["database"] == "ok" and checks["migrations"] == "ok"
    return JsonResponse(
        {"status": "ok" if serving else "unavailable", "checks": checks},
        status=200 if serving else 503,
    )


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return "ok"


def _migrations() -> str:
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if _migrated else "pending"


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not used"
    try:
        with Connection(
            settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS
        ) as broker:
            broker.ensure_connection(max_retries=1)
    except Exception:  # kombu raises the transport's own errors: any means unreachable
        return "unreachable"
    return "ok"
