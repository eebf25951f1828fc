from collections.abc import Callable

from django.core.management.base import BaseCommand

from loyalty import services

# The jobs Celery beat runs, by the names operators type.
JOBS: dict[str, tuple[Callable[[], int], str]] = {
    "release_pending": (services.pending_release_due, "pending points released"),
    "expire_lots": (services.lots_expire_due, "points expired"),
}


class Command(BaseCommand):
    help = "Run one scheduled job now, as Celery beat would: " + ", ".join(JOBS)

    def add_arguments(self, parser):
        parser.add_argument("name", choices=sorted(JOBS))

    def handle(self, *args, name: str, **options):
        job, what = JOBS[name]
        self.stdout.write(f"{name}: {job()} {what}")
