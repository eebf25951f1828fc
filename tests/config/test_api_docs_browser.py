from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_every_endpoint_without_internet(live_server, page, artifacts_dir):
    own_host = urlparse(live_server.url).netloc
    foreign_requests = []

    def only_own_host(route):
        if urlparse(route.request.url).netloc != own_host:
            foreign_requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_own_host)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    page.screenshot(path=artifacts_dir / "api-docs.png", full_page=True)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/purchases/" in p for p in paths)
    assert len(paths) >= 7
    assert foreign_requests == []
