import os

from celery import Celery
from celery.signals import worker_init

from config.db_timeouts import JOBS, timeouts_apply

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

# DjangoTask adds delay_on_commit(): services queue tasks only once their
# transaction has committed, so a worker never sees uncommitted rows and a
# rolled-back operation never triggers side effects.
app = Celery("loyalty", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _jobs_bounded(**kwargs: object) -> None:
    """A worker's jobs and imports get the jobs' database timeouts, not the web's."""
    timeouts_apply(JOBS)
