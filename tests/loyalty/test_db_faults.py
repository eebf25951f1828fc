"""A database that cannot serve is not a conflict: the client is told to retry later (503
with Retry-After) with the same key; a lost race is run again, whole, before anyone is
told; a connection the server dropped is replaced before the next request uses it."""

import uuid

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection
from django.db.backends.signals import connection_created

from config.db_timeouts import JOBS, timeouts_apply
from loyalty import answers
from loyalty.db_faults import database_unavailable, transaction_retryable
from loyalty.models import IdempotencyRecord, Purchase
from loyalty.services.purchases import purchase_record

URL = "/api/v1/purchases/"


def db_error(kind, state_error=None, message="the database failed"):
    """A Django database error as psycopg's would arrive wrapped (its SQLSTATE on the cause)."""
    error = kind(message)
    if state_error is not None:
        error.__cause__ = state_error(message)
    return error


def post_purchase(client, card, key):
    payload = {"card": card.number, "receipt_id": "R-1", "amount": "1000"}
    return client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (db_error(OperationalError), True),  # the server never answered
        (db_error(InterfaceError), True),  # the connection was already closed
        (db_error(OperationalError, psycopg.errors.AdminShutdown), True),
        (db_error(OperationalError, psycopg.errors.CannotConnectNow), True),
        (db_error(OperationalError, psycopg.errors.QueryCanceled), True),  # statement timeout
        (db_error(OperationalError, psycopg.errors.LockNotAvailable), True),  # lock timeout
        (db_error(DatabaseError, psycopg.errors.ReadOnlySqlTransaction), True),
        (db_error(OperationalError, psycopg.errors.TooManyConnections), True),
        (db_error(IntegrityError, psycopg.errors.UniqueViolation), False),
        (db_error(DatabaseError, psycopg.errors.DivisionByZero), False),
        (ValueError("not the database"), False),
    ],
)
def test_which_errors_mean_the_database_cannot_serve(error, unavailable):
    assert database_unavailable(error) is unavailable


def test_only_a_deadlock_or_a_serialization_failure_is_worth_running_again():
    assert transaction_retryable(db_error(OperationalError, psycopg.errors.DeadlockDetected))
    assert transaction_retryable(db_error(OperationalError, psycopg.errors.SerializationFailure))
    assert not transaction_retryable(db_error(OperationalError))
    assert not transaction_retryable(db_error(OperationalError, psycopg.errors.AdminShutdown))


@pytest.mark.django_db
def test_an_unreachable_database_answers_503_with_retry_after_not_409(
    pos, card, program, monkeypatch
):
    def server_gone(**_kwargs):
        raise db_error(OperationalError, message="server closed the connection unexpectedly")

    monkeypatch.setattr(answers, "purchase_record", server_gone)
    response = post_purchase(pos, card, str(uuid.uuid4()))
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_is_run_again_whole_and_recorded_once(pos, card, program, monkeypatch):
    calls = []

    def deadlocked_once(**kwargs):
        calls.append(kwargs["receipt_id"])
        if len(calls) == 1:
            raise db_error(OperationalError, psycopg.errors.DeadlockDetected)
        return purchase_record(**kwargs)

    monkeypatch.setattr(answers, "purchase_record", deadlocked_once)
    key = str(uuid.uuid4())
    response = post_purchase(pos, card, key)
    assert response.status_code == 201, response.json()
    assert len(calls) == 2
    assert Purchase.objects.count() == 1
    assert IdempotencyRecord.objects.get(key=key).response_status == 201


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_that_persists_is_503_after_three_attempts(pos, card, program, monkeypatch):
    calls = []

    def always_deadlocked(**kwargs):
        calls.append(kwargs["receipt_id"])
        raise db_error(OperationalError, psycopg.errors.DeadlockDetected)

    monkeypatch.setattr(answers, "purchase_record", always_deadlocked)
    response = post_purchase(pos, card, str(uuid.uuid4()))
    assert response.status_code == 503
    assert len(calls) == 3
    assert not IdempotencyRecord.objects.exists()  # the key is free for the retry


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_before_it_is_used(monkeypatch):
    # Persistent, as in production (the test settings close it after each request).
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    connection.close_if_unusable_or_obsolete()  # what Django does as each request starts
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != backend


@pytest.mark.django_db(transaction=True)
def test_a_statement_that_runs_out_of_time_rolls_back_and_answers_503(
    pos, card, program, monkeypatch
):
    def slow(**kwargs):
        purchase_record(**kwargs)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '100ms'")
            cursor.execute("SELECT pg_sleep(2)")

    monkeypatch.setattr(answers, "purchase_record", slow)
    response = post_purchase(pos, card, str(uuid.uuid4()))
    assert response.status_code == 503
    assert (Purchase.objects.count(), IdempotencyRecord.objects.count()) == (0, 0)


def session_setting(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_web_entry_point_bounds_every_session_it_opens():
    from config import wsgi  # noqa: F401 -- the entry point connects the web's bounds

    try:
        connection.close()
        assert session_setting("statement_timeout") == "5s"
        assert session_setting("lock_timeout") == "3s"
        assert session_setting("idle_in_transaction_session_timeout") == "10s"
    finally:
        connection_created.disconnect(dispatch_uid="database-timeouts")
        connection.close()
    assert session_setting("statement_timeout") == "0"


@pytest.mark.django_db(transaction=True)
def test_jobs_get_longer_bounds_than_the_web():
    timeouts_apply(JOBS)
    try:
        connection.close()
        assert session_setting("statement_timeout") == "10min"
        assert session_setting("lock_timeout") == "1min"
    finally:
        connection_created.disconnect(dispatch_uid="database-timeouts")
        connection.close()
