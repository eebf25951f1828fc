import pytest
import yaml
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

from config import health
from tests.schema_check import assert_matches_schema

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/cards/issue/", "post"),
    ("/api/v1/members/lookup/", "get"),
    ("/api/v1/cards/{number}/balance/", "get"),
    ("/api/v1/cards/{number}/replace/", "post"),
    ("/api/v1/purchases/", "post"),
    ("/api/v1/purchases/{purchase_id}/", "get"),
    ("/api/v1/purchases/{purchase_id}/refunds/", "post"),
    ("/api/v1/events/", "post"),
    ("/api/v1/non-member-sales/", "put"),
    ("/api/v1/settlements/", "get"),
    ("/api/v1/settlements/{statement_id}/", "get"),
    ("/api/v1/settlements/{statement_id}/csv/", "get"),
    ("/api/v1/settlements/{statement_id}/pdf/", "get"),
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_openapi_3_and_lists_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert documented >= OPERATIONS


def test_every_endpoint_declares_its_errors_and_api_key_security(schema):
    for path, method in OPERATIONS:
        operation = schema["paths"][path][method]
        assert {"400", "401", "404", "409"} <= set(operation["responses"]), (path, method)
        assert operation["security"] == [{"ApiKey": []}], (path, method)


def test_writes_document_the_idempotency_header(schema):
    for path in (
        "/api/v1/purchases/",
        "/api/v1/purchases/{purchase_id}/refunds/",
        "/api/v1/events/",
    ):
        names = [
            p["name"] for p in schema["paths"][path]["post"]["parameters"] if p["in"] == "header"
        ]
        assert "Idempotency-Key" in names


def test_swagger_ui_is_served_from_local_static_files(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_health_reports_ok(client):
    assert client.get("/health/").json() == {"status": "ok"}


def test_unknown_api_paths_answer_json_404(client):
    response = client.get("/api/v1/purchases/null,null/")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_card_numbers_and_idempotency_keys_are_constrained_in_the_schema(schema):
    card = schema["components"]["schemas"]["PurchaseInputRequest"]["properties"]["card"]
    assert card["pattern"] == r"^\s*[0-9]{13}\s*$"
    header = next(
        p
        for p in schema["paths"]["/api/v1/purchases/"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert header["schema"]["minLength"] == 1


def test_a_members_referral_code_is_never_null_in_answers(schema):
    """Imported members have none until first use; every answer draws it first."""
    code = schema["components"]["schemas"]["MemberOutput"]["properties"]["referral_code"]
    assert code["type"] == "string"
    assert not code.get("nullable")


def _answer(body, status=200):
    return JsonResponse(body, status=status, safe=False)


def test_the_schema_check_refuses_answers_off_the_schema():
    """The API tests' client holds every answer against the schema; it must notice."""
    balance = {"available": 1, "pending": 0, "debt": 0, "expiring": []}
    path = "/api/v1/cards/2000000000015/balance/"
    assert_matches_schema(_answer(balance), path, "get")
    with pytest.raises(AssertionError, match="off its schema"):
        assert_matches_schema(_answer({**balance, "phone": "+7"}), path, "get")
    with pytest.raises(AssertionError, match="off its schema"):
        assert_matches_schema(_answer({**balance, "available": "1"}), path, "get")
    with pytest.raises(AssertionError, match="does not declare 418"):
        assert_matches_schema(_answer(balance, status=418), path, "get")


def test_liveness_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live/")
    assert response.json() == {"status": "ok"}


def test_readiness_checks_the_database_and_migrations(client):
    response = client.get("/health/ready/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "not used"},
    }


def test_a_worker_without_its_database_is_not_ready(client, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", unreachable)
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


def test_a_worker_with_migrations_to_apply_is_not_ready(client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda *args: [("a migration", False)])
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "pending",
        "broker": "not used",
    }


def test_an_unreachable_broker_is_reported_but_the_worker_stays_ready(client, settings):
    """Writes queue their work in the database; the workers catch up when it is back."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/ready/")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "unreachable"
