"""Tests: PostgreSQL by default (the ledger's triggers and row locks are real)."""

from .base import *  # noqa: F403
from .base import STORAGES, database_settings, env

DATABASES = {"default": database_settings("postgres://postgres@127.0.0.1:5432/loyalty")}
# Each test thread (and the live server) opens and closes its own connection.
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run eagerly, except in the tests that start a real worker: they switch
# eager mode off, and messages then go to this broker (a Redis database of its own).
CELERY_BROKER_URL = env.str("CELERY_TEST_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "public": STORAGES["public"],
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
