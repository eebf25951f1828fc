"""Celery tasks: thin wrappers, one service each."""

from celery import shared_task
from django.conf import settings

from . import badges, club, holds, jobs, leaderboard, reports, tier_moves
from .journeys import entering, steps


@shared_task
def release_due_pending_points() -> int:
    return jobs.pending_release_due()


@shared_task
def expire_due_lots() -> int:
    return jobs.lots_expire_due_parallel(workers=settings.LEDGER_JOB_WORKERS)


@shared_task
def recalculate_tiers() -> int:
    return tier_moves.tiers_recalculate_all()


@shared_task
def expire_club_memberships() -> int:
    return club.club_memberships_expire()


@shared_task
def purge_idempotency_keys() -> int:
    return jobs.idempotency_keys_purge(keep_days=settings.IDEMPOTENCY_KEY_DAYS)


@shared_task
def expire_holds() -> int:
    return holds.holds_expire_due()


@shared_task
def award_anniversary_badges() -> int:
    return badges.anniversary_badges_award()


@shared_task
def refresh_leaderboard() -> int:
    return leaderboard.leaderboard_refresh()


@shared_task
def run_journeys() -> int:
    return steps.journeys_run()


@shared_task
def enter_scheduled_journeys() -> int:
    return entering.journeys_enter_scheduled()


@shared_task
def refresh_daily_figures() -> int:
    return reports.daily_figures_refresh_recent()


@shared_task
def backfill_daily_figures() -> int:
    return reports.daily_figures_backfill()


@shared_task
def refresh_cohorts() -> int:
    return reports.cohorts_refresh()
