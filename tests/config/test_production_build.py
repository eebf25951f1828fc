"""What production builds, CI builds: `collectstatic` under config.settings.production
into a temporary STATIC_ROOT, then gunicorn with those settings serving a page and a
hashed static file through whitenoise. Nothing here skips: a missing file, tool or
service fails the test (`make test` provides PostgreSQL and Redis)."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPMessage
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlparse

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from .test_settings import PRODUCTION_ENV, ROOT, run_manage

HOST = "loyalty.example.com"
# Production trusts the proxy's X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); without
# it every request is redirected to https.
BEHIND_TLS_PROXY = {"Host": HOST, "X-Forwarded-Proto": "https"}
# Whitenoise's answer for a file whose name carries its content's hash.
FOREVER = "max-age=315360000, public, immutable"


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("staticfiles")
    result = run_manage(
        "collectstatic",
        "--noinput",
        "--settings=config.settings.production",
        env={**PRODUCTION_ENV, "STATIC_ROOT": str(root)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="module")
def manifest(static_root) -> dict[str, str]:
    return json.loads((static_root / "staticfiles.json").read_text())["paths"]


def test_every_static_file_of_every_app_is_hashed_into_the_manifest(manifest):
    # The files Django's finders see: ours (static/), the admin's, unfold's,
    # allauth's, drf-spectacular-sidecar's Swagger UI, django-htmx's...
    found = {
        path
        for finder in finders.get_finders()
        for path, _storage in finder.list(["CVS", ".*", "*~"])
    }
    assert found - manifest.keys() == set()
    for path in (
        "vendor/chartjs/chart.umd.min.js",
        "admin/loyalty/dashboard.js",
        "till/till.js",
        "cabinet/cabinet.css",
        "unfold/js/alpine/alpine.js",
        "unfold/css/styles.css",
        "admin/js/core.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "django_htmx/htmx-2.min.js",
    ):
        assert manifest[path] != path, f"{path} has no hashed name"


def test_static_files_are_stored_compressed_beside_the_hashed_ones(static_root, manifest):
    hashed = manifest["vendor/chartjs/chart.umd.min.js"]
    assert (static_root / hashed).is_file()
    assert (static_root / f"{hashed}.gz").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def production_server(static_root, django_db_setup):
    """gunicorn with the production settings, on the test database and the test Redis."""
    database = settings.DATABASES["default"]
    url = urlparse(os.environ.get("DATABASE_URL", PRODUCTION_ENV["DATABASE_URL"]))
    database_url = url._replace(path=f"/{database['NAME']}").geturl()
    redis = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION_ENV and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        PRODUCTION_ENV,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=redis,
        CACHE_URL=redis,
        STATIC_ROOT=str(static_root),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        # Its log goes to pytest's captured output: shown with the test that failed.
    )
    try:
        wait_until_listening(server, port)
        yield port
    finally:
        server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        server.wait(timeout=10)


def wait_until_listening(server: subprocess.Popen, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode} (its log is above)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not listen on port {port} within {timeout} s")


def fetch(
    port: int, path: str, headers: dict[str, str], form: dict[str, str] | None = None
) -> tuple[int, HTTPMessage, bytes]:
    """GET `path`, or POST `form` to it, on the server at `port`: status, headers, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if form is None:
        connection.request("GET", path, headers=headers)
    else:
        form_type = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", path, urlencode(form), headers={**headers, **form_type})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.msg, body


def cookie(headers: HTTPMessage, name: str) -> Morsel:
    jar: SimpleCookie = SimpleCookie()
    for header in headers.get_all("Set-Cookie", []):
        jar.load(header)
    return jar[name]


def test_gunicorn_answers_behind_a_tls_proxy_and_redirects_plain_http(production_server):
    status, headers, body = fetch(production_server, "/health/", BEHIND_TLS_PROXY)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")

    status, headers, _ = fetch(production_server, "/health/", {"Host": HOST})
    assert status == 301
    assert headers["Location"] == f"https://{HOST}/health/"


def test_a_page_links_hashed_static_files_that_whitenoise_serves_forever(
    production_server, manifest
):
    status, headers, page = fetch(production_server, "/accounts/login/", BEHIND_TLS_PROXY)
    assert status == 200
    stylesheet = f"/static/{manifest['cabinet/cabinet.css']}"
    assert stylesheet.encode() in page

    status, headers, css = fetch(
        production_server, stylesheet, {**BEHIND_TLS_PROXY, "Accept-Encoding": "identity"}
    )
    assert status == 200
    assert headers["Cache-Control"] == FOREVER
    assert headers["Content-Type"].startswith("text/css")
    assert css == (ROOT / "static/cabinet/cabinet.css").read_bytes()

    status, headers, _ = fetch(
        production_server, stylesheet, {**BEHIND_TLS_PROXY, "Accept-Encoding": "gzip"}
    )
    assert (status, headers["Content-Encoding"]) == (200, "gzip")


def test_the_vendored_chart_library_is_served_under_its_hashed_name(production_server, manifest):
    status, headers, script = fetch(
        production_server,
        f"/static/{manifest['vendor/chartjs/chart.umd.min.js']}",
        {**BEHIND_TLS_PROXY, "Accept-Encoding": "identity"},
    )
    assert status == 200
    assert headers["Cache-Control"] == FOREVER
    assert script.startswith(b"/*!\n * Chart.js v4.6.1")
    # An unhashed name is served too (for old links), but browsers may not keep it.
    status, headers, _ = fetch(
        production_server,
        "/static/vendor/chartjs/chart.umd.min.js",
        {**BEHIND_TLS_PROXY, "Accept-Encoding": "identity"},
    )
    assert status == 200
    assert "immutable" not in headers["Cache-Control"]


def test_pages_carry_the_content_security_policy_and_isolation_headers(production_server):
    status, headers, _ = fetch(production_server, "/accounts/login/", BEHIND_TLS_PROXY)
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'; script-src 'self' 'nonce-" in policy
    assert "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_language_and_csrf_cookies_are_secure_httponly_and_lax(production_server):
    status, headers, page = fetch(production_server, "/accounts/login/", BEHIND_TLS_PROXY)
    assert status == 200
    csrf = cookie(headers, "csrftoken")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None

    # The language switchers of the admin, the cabinet and the till post here.
    status, headers, _ = fetch(
        production_server,
        "/i18n/setlang/",
        {**BEHIND_TLS_PROXY, "Origin": f"https://{HOST}", "Cookie": f"csrftoken={csrf.value}"},
        form={"language": "pl", "next": "/", "csrfmiddlewaretoken": token.group(1).decode()},
    )
    assert status == 302
    language = cookie(headers, "django_language")
    assert language.value == "pl"
    for morsel in (language, csrf):
        assert (morsel["secure"], morsel["httponly"], morsel["samesite"]) == (True, True, "Lax")
