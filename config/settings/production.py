"""Production: PostgreSQL and a Redis broker are required, HTTPS everywhere.

`python manage.py check --deploy --settings=config.settings.production`
passes with zero warnings (tests/config/test_settings.py proves it).
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CACHES, STORAGES, env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("dev-insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Said, not defaulted: the default is the demo's server inside the project directory.
if "DATABASE_URL" not in env.ENVIRON:
    raise ImproperlyConfigured("Production needs DATABASE_URL pointing to PostgreSQL.")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
if "locmem" in CACHES["default"]["BACKEND"]:
    # Web processes and Celery workers share the cache (import progress, for one).
    raise ImproperlyConfigured("Production needs CACHE_URL pointing to Redis, shared by all.")
CELERY_TASK_ALWAYS_EAGER = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Every cookie is HTTPS-only here (base.py makes them HttpOnly and SameSite=Lax).
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "public": STORAGES["public"],
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
