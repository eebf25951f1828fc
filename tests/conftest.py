import os
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import translation

from loyalty.badges import badges_cache_clear
from loyalty.journeys.entering import journeys_cache_clear
from loyalty.ledger import ledger_breaches, system_account_cache_clear
from loyalty.program import program_settings_cache_clear, program_settings_update
from loyalty.selectors import earning_rules_cache_clear, event_bonuses_cache_clear
from loyalty.tiers import tier_snapshot_cache_clear
from partners.models import Partner
from partners.selectors import cobrand_multipliers_cache_clear
from partners.services import api_key_create
from partners.webhooks import webhook_subscriptions_cache_clear
from tests.schema_check import APIClient

from . import sms
from .factories import CardFactory, PartnerFactory


@pytest.fixture(autouse=True)
def _default_language():
    # A test client request in Russian leaves Russian active in this thread
    # (LocaleMiddleware activates, nothing deactivates): reset it per test.
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Transactional tests truncate tables, so cached row ids must not outlive a test;
    # rate limits and throttles count in Django's cache, so each test starts at zero.
    cache.clear()
    _process_caches_clear()
    yield
    _process_caches_clear()


def _process_caches_clear() -> None:
    system_account_cache_clear()
    program_settings_cache_clear()
    earning_rules_cache_clear()
    event_bonuses_cache_clear()
    tier_snapshot_cache_clear()
    cobrand_multipliers_cache_clear()
    webhook_subscriptions_cache_clear()
    badges_cache_clear()
    journeys_cache_clear()


@pytest.fixture
def sms_outbox(settings) -> list[tuple[str, str]]:
    """Text messages are kept in `tests.sms.outbox` instead of being sent."""
    settings.SMS_BACKEND = "tests.sms.outbox_send"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def operator(db) -> Partner:
    """The operator's own brand (created by a migration; recreated after truncation)."""
    return PartnerFactory(code="main", name="Our brand")


@pytest.fixture
def program(db):
    """Program settings with a return window and no redemption floor."""
    return program_settings_update(
        pending_days=14, expiry_months=12, earn_points=1, earn_amount=100, max_redeem_share="0.5"
    )


@pytest.fixture
def instant_program(db):
    """No return window: purchase points are available at once."""
    return program_settings_update(pending_days=0, expiry_months=12, max_redeem_share="1")


def api_client_for(partner: Partner, outlet=None) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {api_key_create(partner=partner, outlet=outlet)}"
    )
    return client


@pytest.fixture
def pos(operator) -> APIClient:
    return api_client_for(operator)


@pytest.fixture
def card(operator):
    return CardFactory(partner=operator)


@pytest.fixture
def ledger_consistent():
    """Use in a test to assert, at its end, that every ledger invariant holds."""
    yield
    breaches = ledger_breaches()
    assert not breaches, "\n".join(f"{b.invariant}: {b.rows}" for b in breaches)


def ledger_check_passes() -> bool:
    try:
        call_command("ledger_check")
    except SystemExit as exc:
        return exc.code == 0
    return True


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser; missing it is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the live server's
    # database access happens in its own thread, so Django's async guard is moot.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
