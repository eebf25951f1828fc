"""Settings shared by every environment, read from the process environment.

Defaults make `manage.py` work on a fresh checkout with no services: the demo's
embedded PostgreSQL (config.embedded_postgres, started by `make demo`) and Celery tasks
executed eagerly. Production sets DATABASE_URL and CELERY_BROKER_URL (see
config.settings.production).
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse_lazy
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from config import embedded_postgres

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Reverse proxies in front of the application that append the client's address to
# X-Forwarded-For. The client's address is the one that many places from the right:
# with 0 the header is ignored (a client could write anything into it) and the
# connection's address counts. Every limit per address reads it through this number.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "partners",
    "members",
    "loyalty",
    "rewards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (the admin's is looser: config.csp).
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.input_guard.nul_refuse",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After authentication: a session made at the till is anonymous outside it.
    "members.middleware.till_session_confine",
    "members.middleware.privileged_session_expire",
]

# --- Content-Security-Policy, cookies and browser isolation (OWASP ASVS level 2) ---
# docs/operations.md ("Production") says what each allows and why; tests/config/
# test_csp_browser.py opens every kind of page in Chromium and fails on any violation.
#
# Scripts load from this origin only, or inline with the response's nonce
# (nonce="{{ csp_nonce }}"); nothing is eval'd. <style> elements likewise. Style
# attributes are allowed (style-src-attr only): the card's barcode SVG colours its bars
# with them and templates size progress bars with them; an attribute has no selector,
# so it cannot read the page, and url() in it may load images from this origin only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],  # the admin's and Swagger UI's icons are data: URLs
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# The admin (config.csp): django-unfold's Alpine.js evaluates its attributes with
# `new Function` ('unsafe-eval'), and unfold writes <style> elements (its theme colours,
# the changelist) without a nonce. A nonce in style-src would disable 'unsafe-inline'.
ADMIN_CSP = {
    **SECURE_CSP,
    "script-src": [CSP.SELF, CSP.NONCE, CSP.UNSAFE_EVAL],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
}
# No script reads a cookie (the till, the cabinet and Swagger UI take the CSRF token from
# the page), so every cookie is HttpOnly. SameSite=Lax: sent when a member follows a
# link from elsewhere (a journey email), never with another site's POST or subrequest.
# Production adds Secure to each (config.settings.production).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# A session ends with the browser: the admin's and the till's sign-ins, and visitors'.
# A member who ticks "Remember me" in the cabinet keeps theirs for SESSION_COOKIE_AGE
# (allauth gives that session its own expiry); after it the server forgets any session.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 60 * 60)
# Other sites learn nothing of our URLs (they carry tokens: /j/<token>/, unsubscribe).
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# --- end of Content-Security-Policy and cookies ---

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",  # {{ csp_nonce }}
            ],
        },
    },
]


def database_settings(default_url: str) -> dict:
    """DATABASE_URL (or `default_url`) with the options this project relies on."""
    url = env.str("DATABASE_URL", default=default_url)
    database = env.db_url_config(url) if url else {}
    # One SQL dialect: the ledger's triggers, row locks and set-based SQL are PostgreSQL's.
    if database.get("ENGINE") != "django.db.backends.postgresql":
        scheme = url.partition(":")[0]  # never the rest: it may hold a password
        raise ImproperlyConfigured(
            "This project needs DATABASE_URL pointing to PostgreSQL (postgres://...), "
            f"its only database; got {scheme + ':' if scheme else 'an empty one'}."
        )
    # Requests are not wrapped in a transaction: services open their own short
    # atomic blocks, so row locks are held as briefly as possible.
    database["ATOMIC_REQUESTS"] = False
    database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A persistent connection is checked before a request's first query (one SELECT 1),
    # so a connection that died with a restarted server is replaced, not failed on.
    database["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
    # Server-side parameter binding lets psycopg prepare the hot statements
    # after a few executions: about 1.25x purchases per second
    # (docs/performance.md). Turn it off behind a transaction-mode pgbouncer.
    database.setdefault("OPTIONS", {}).update(
        server_side_binding=env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
        prepare_threshold=env.int("DATABASE_PREPARE_THRESHOLD", default=2),
    )
    return database


# How long a database session of each kind of process may run a statement, wait for a
# lock, or sit idle in a transaction, in milliseconds (config/db_timeouts.py). The web's
# bound is what a till can wait; gunicorn's --timeout must be longer (docs/operations.md).
DATABASE_TIMEOUTS = {
    "web": {
        "statement": env.int("WEB_STATEMENT_TIMEOUT_MS", default=5_000),
        "lock": env.int("WEB_LOCK_TIMEOUT_MS", default=3_000),
        "idle_in_transaction": env.int("WEB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=10_000),
    },
    "jobs": {
        "statement": env.int("JOBS_STATEMENT_TIMEOUT_MS", default=600_000),
        "lock": env.int("JOBS_LOCK_TIMEOUT_MS", default=60_000),
        "idle_in_transaction": env.int("JOBS_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=600_000),
    },
}

# By default the embedded PostgreSQL 18 of `make demo` (config/embedded_postgres.py), on a
# Unix socket in .demo-postgres/; tests default to the system server (config.settings.test).
DATABASES = {"default": database_settings(embedded_postgres.database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Twelve characters at least (ASVS 2.1.1); no composition rules, any length above.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # admin and till logins by username
    "allauth.account.auth_backends.AuthenticationBackend",  # the cabinet, by email
    "members.signin.TillSessionBackend",  # authenticates nobody: marks till sessions
]

# The customer cabinet (django-allauth): sign-up and login by email or phone,
# password reset, optional TOTP. Failed logins and resets are rate-limited (allauth's
# defaults, kept in the cache: production requires Redis for it).
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "cabinet-home"
# Sign up with an email, a phone (verified by a texted code) or both; sign in with either.
ACCOUNT_LOGIN_METHODS = {"email", "phone"}
ACCOUNT_SIGNUP_FIELDS = ["email", "phone", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "members.cabinet.forms.CabinetSignupForm"}
ACCOUNT_ADAPTER = "members.cabinet.adapter.CabinetAccountAdapter"
ACCOUNT_PHONE_VERIFICATION_SUPPORTS_RESEND = True
# Six digits, like the card-linking code: typed from a text message on a keypad.
ACCOUNT_PHONE_VERIFICATION_CODE_FORMAT = {"length": 6, "numeric": True, "dashed": False}
# allauth warns when neither sign-in field is required on its own; our sign-up
# form (members.cabinet.forms) requires one of the two, which allauth cannot see.
SILENCED_SYSTEM_CHECKS = ["account.W001"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# Members are told by email when their password, email or phone changes (ASVS 2.2.3).
ACCOUNT_EMAIL_NOTIFICATIONS = True
# Staff and till sessions end after this long without a request, and this long after
# signing in (members.middleware.privileged_session_expire).
STAFF_SESSION_IDLE_MINUTES = env.int("STAFF_SESSION_IDLE_MINUTES", default=30)
STAFF_SESSION_MAX_HOURS = env.int("STAFF_SESSION_MAX_HOURS", default=12)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Loyalty")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
# Where members reach this site: absolute links in emails and texts.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Push notifications of journeys: a dotted path to `send(member, title, text, link)`.
PUSH_BACKEND = env.str("PUSH_BACKEND", default="loyalty.journeys.messages.push_console_send")
# Where one-time codes for card linking go by text message: a dotted path to a
# function `send(phone, text)`; the default prints them to the console.
SMS_BACKEND = env.str("SMS_BACKEND", default="members.sms.console_send")

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian")), ("pl", _("Polish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes and whitenoise serves from; the production-build test
# (tests/config/test_production_build.py) builds into a temporary directory.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploaded import files and their reports: private, served only through the admin.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"
# Uploads anyone may see (reward images), kept apart from MEDIA_ROOT, which holds
# private import files; a web server serves this directory at PUBLIC_MEDIA_URL.
PUBLIC_MEDIA_ROOT = env.path("PUBLIC_MEDIA_ROOT", default=BASE_DIR / "media-public")
PUBLIC_MEDIA_URL = "/public-media/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "public": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PUBLIC_MEDIA_ROOT, "base_url": PUBLIC_MEDIA_URL},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://"),
}

# Phone numbers typed without a country code are read in this region.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="RU")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["partners.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["partners.authentication.HasPartnerApiKey"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "web.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Password guessing through the mobile app's token endpoint, per client address.
    "DEFAULT_THROTTLE_RATES": {"token": env.str("TOKEN_THROTTLE_RATE", default="10/min")},
    # Per-address throttles read the client's address as allauth does (see above).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

# Partner holds (two-phase burn): how long points stay reserved without a capture.
HOLD_MINUTES_DEFAULT = env.int("HOLD_MINUTES_DEFAULT", default=15)
HOLD_MINUTES_MAX = env.int("HOLD_MINUTES_MAX", default=24 * 60)
# A month's settlement statements close this many days after it ends (time to enter its rates).
SETTLEMENT_CLOSE_AFTER_DAYS = env.int("SETTLEMENT_CLOSE_AFTER_DAYS", default=3)

# Webhook URLs: https only unless this is on (development); private addresses only in tests.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)

# Card, phone and voucher lookups allowed per API key (partners.authentication), and
# searches per cashier at the till page (members.till).
LOOKUP_THROTTLE_RATE = env.str("LOOKUP_THROTTLE_RATE", default="300/min")
TILL_LOOKUPS_PER_MINUTE = env.int("TILL_LOOKUPS_PER_MINUTE", default=60)

SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty platform API",
    "DESCRIPTION": (
        "POS and partner API. Authenticate with `Authorization: Api-Key <key>`; "
        "writes accept an `Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VoucherStatusEnum": "rewards.models.Voucher.Status",
        "RewardKindEnum": "rewards.models.Reward.Kind",
        "StatementStatusEnum": "partners.models.Statement.Status",
    },
}

# Celery: without a broker, tasks run eagerly in-process (demo, development).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="loyalty")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Threads (own database connections) a large expiry backlog is split over.
LEDGER_JOB_WORKERS = env.int("LEDGER_JOB_WORKERS", default=2)
# How long clients' Idempotency-Keys are remembered (receipt ids guard purchases forever).
IDEMPOTENCY_KEY_DAYS = env.int("IDEMPOTENCY_KEY_DAYS", default=30)
CELERY_BEAT_SCHEDULE = {
    "release-pending-points": {
        "task": "loyalty.tasks.release_due_pending_points",
        "schedule": 15 * 60,
    },
    "expire-points": {
        "task": "loyalty.tasks.expire_due_lots",
        "schedule": 60 * 60,
    },
    "expire-club-memberships": {
        "task": "loyalty.tasks.expire_club_memberships",
        "schedule": 15 * 60,
    },
    "recalculate-tiers": {
        "task": "loyalty.tasks.recalculate_tiers",
        "schedule": crontab(hour=3, minute=10),
    },
    "purge-idempotency-keys": {
        "task": "loyalty.tasks.purge_idempotency_keys",
        "schedule": crontab(hour=4, minute=20),
    },
    "expire-holds": {
        "task": "loyalty.tasks.expire_holds",
        "schedule": 60,
    },
    "send-due-webhooks": {
        "task": "partners.tasks.send_due_webhooks",
        "schedule": 60,
    },
    "run-journeys": {
        "task": "loyalty.tasks.run_journeys",
        "schedule": 60,
    },
    "enter-scheduled-journeys": {
        "task": "loyalty.tasks.enter_scheduled_journeys",
        "schedule": crontab(hour=6, minute=0),
    },
    "refresh-daily-figures": {
        "task": "loyalty.tasks.refresh_daily_figures",
        "schedule": 15 * 60,
    },
    "refresh-cohorts": {
        "task": "loyalty.tasks.refresh_cohorts",
        "schedule": crontab(hour=3, minute=40),
    },
    "refresh-leaderboard": {
        "task": "loyalty.tasks.refresh_leaderboard",
        "schedule": 10 * 60,
    },
    "award-anniversary-badges": {
        "task": "loyalty.tasks.award_anniversary_badges",
        "schedule": crontab(hour=5, minute=10),
    },
    "settle-partners": {
        "task": "partners.tasks.settle_partners",
        "schedule": crontab(hour=2, minute=40),
    },
    "expire-vouchers": {
        "task": "rewards.tasks.expire_vouchers",
        "schedule": 15 * 60,
    },
}

UNFOLD = {
    "SITE_TITLE": _("Loyalty back-office"),
    "SITE_HEADER": _("Loyalty"),
    "SHOW_LANGUAGES": True,
    "ACCOUNT": {
        "navigation": [
            {"title": _("Two-factor authentication"), "link": reverse_lazy("mfa_index")},
        ],
    },
    "SIDEBAR": {
        "show_search": True,
        # Everything else (logins' emails, authenticators, tokens) stays one click away.
        "show_all_applications": True,
        "navigation": "config.admin_navigation.sidebar",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
