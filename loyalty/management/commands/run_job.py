from collections.abc import Callable

from django.core.management.base import BaseCommand

from loyalty import tasks
from partners import tasks as partner_tasks
from rewards import tasks as reward_tasks

# The jobs Celery beat runs, by the names operators type (run here in-process).
JOBS: dict[str, tuple[Callable[[], int], str]] = {
    "release_pending": (tasks.release_due_pending_points, "pending points released"),
    "expire_lots": (tasks.expire_due_lots, "points expired"),
    "recalculate_tiers": (tasks.recalculate_tiers, "tiers moved"),
    "expire_club": (tasks.expire_club_memberships, "club memberships ended"),
    "purge_idempotency_keys": (tasks.purge_idempotency_keys, "old idempotency keys deleted"),
    "expire_vouchers": (reward_tasks.expire_vouchers, "vouchers expired"),
    "expire_holds": (tasks.expire_holds, "partner holds released"),
    "send_webhooks": (partner_tasks.send_due_webhooks, "webhook deliveries sent"),
    "settle_partners": (partner_tasks.settle_partners, "settlement statements closed"),
    "anniversary_badges": (tasks.award_anniversary_badges, "anniversary badges given"),
    "leaderboard": (tasks.refresh_leaderboard, "leaderboard places ranked"),
    "journeys": (tasks.run_journeys, "journey entries moved on"),
    "journeys_scan": (tasks.enter_scheduled_journeys, "members entered journeys"),
    "daily_figures": (tasks.refresh_daily_figures, "days of the dashboard recomputed"),
    "cohorts": (tasks.refresh_cohorts, "cohort months recomputed"),
    "daily_figures_backfill": (
        tasks.backfill_daily_figures,
        "days of the dashboard recomputed (all history)",
    ),
}


class Command(BaseCommand):
    help = "Run one scheduled job now, as Celery beat would: " + ", ".join(JOBS)

    def add_arguments(self, parser):
        parser.add_argument("name", choices=sorted(JOBS))

    def handle(self, *args, name: str, **options):
        job, what = JOBS[name]
        self.stdout.write(f"{name}: {job()} {what}")
