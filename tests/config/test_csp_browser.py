"""The Content-Security-Policy in Chromium: the admin, the cabinet, the till and Swagger UI
each work under it, and the browser reports no violation on any of them."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from loyalty.adjustments import points_adjust
from loyalty.models import Tier, TierLadder
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from members.models import CardImport, Cashier, Member
from tests.factories import CardFactory, OutletFactory, PartnerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium reports a blocked script, style, image or eval both as a console error and as
# a securitypolicyviolation event; the listener (added before any page script runs, and
# itself exempt from the policy) makes sure no kind of violation goes unseen.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI}`
    + ` at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""
SIGNS_OF_A_VIOLATION = ("Content Security Policy", "Refused to", "CSP violation")


@pytest.fixture
def violations(page: Page) -> list[str]:
    found: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            found.append(f"{page.url}: {message.text}")
            if any(sign in message.text for sign in SIGNS_OF_A_VIOLATION)
            else None
        ),
    )
    page.on("pageerror", lambda error: found.append(f"{page.url}: uncaught {error}"))
    return found


def open_page(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.ok, url
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.fixture
def operator(db):
    operator = PartnerFactory(code="main")
    program_settings_update(pending_days=0, max_redeem_share="1", earn_points=1, earn_amount=100)
    return operator


def test_the_admin_works_under_its_policy(live_server, page, violations, operator, tmp_path):
    User.objects.create_superuser("root", "root@example.com", "csp-pass-2026")
    card = CardFactory(partner=operator)
    outlet = OutletFactory(partner=operator, name="Central store")
    purchase_record(
        partner=operator, outlet=outlet, card_number=card.number, receipt_id="R1", amount=2500
    )

    open_page(page, f"{live_server.url}/admin/")  # the sign-in page, then the index
    alpine_started(page)
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "csp-pass-2026")
    page.press("input[name=password]", "Enter")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    alpine_started(page)

    open_page(page, f"{live_server.url}/admin/members/member/")
    expect(page.locator("#result_list")).to_contain_text(card.member.full_name)
    alpine_started(page)

    open_page(page, f"{live_server.url}/admin/members/member/{card.member_id}/change/")
    expect(page.locator("input[name=full_name]")).to_have_value(card.member.full_name)
    alpine_started(page)

    # The dashboard draws its charts with the vendored Chart.js, from the page's JSON.
    open_page(page, f"{live_server.url}/admin/loyalty/dailyfigures/")
    page.wait_for_function(
        "() => ['chart-sales', 'chart-points', 'chart-members', 'chart-tiers', 'chart-rewards']"
        ".every((id) => window.Chart && window.Chart.getChart(id)?.chartArea)"
    )

    # A running import polls its progress from an inline script (with the page's nonce),
    # and reloads the page once the job's status changes.
    job = CardImport.objects.create(original_name="legacy.csv", file="imports/legacy.csv")
    with page.expect_response(lambda r: r.url.endswith(f"/{job.pk}/progress/")):
        open_page(page, f"{live_server.url}/admin/members/cardimport/{job.pk}/change/")
    CardImport.objects.filter(pk=job.pk).update(status=CardImport.Status.FAILED)
    expect(page.get_by_test_id("import-status")).to_have_text("Failed", timeout=5_000)

    assert violations == []


def alpine_started(page: Page) -> None:
    # Unfold's <html x-data="theme()">: its data exists once Alpine.js could evaluate it.
    page.wait_for_function(
        "() => window.Alpine?.$data(document.documentElement).adminTheme !== undefined"
    )


def test_the_cabinet_works_under_the_strict_policy(live_server, page, violations, operator):
    user = User.objects.create_user("anna", email="anna@example.com", password="csp-pass-2026")
    card = CardFactory(partner=operator)
    Member.objects.filter(pk=card.member_id).update(user=user)
    ladder = TierLadder.objects.create(name="Status", window="calendar_month")
    Tier.objects.create(ladder=ladder, name="VIP", rank=1, min_spend=10_000)
    outlet = OutletFactory(partner=operator, name="Central store")
    purchase_record(
        partner=operator, outlet=outlet, card_number=card.number, receipt_id="R1", amount=2500
    )
    points_adjust(member=card.member, points=180, reason="welcome back")

    open_page(page, f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "anna@example.com")
    page.fill("input[name=password]", "csp-pass-2026")
    page.press("input[name=password]", "Enter")
    expect(page.get_by_test_id("available")).to_have_text("205")
    # The barcode's bars are coloured by style attributes, which the policy allows.
    background = page.get_by_test_id("card").locator("svg rect").first
    expect(background).to_have_css("fill", "rgb(255, 255, 255)")
    expect(page.locator(".bar span").first).to_have_attribute("style", "width: 25%")

    # The history filter is an htmx form: choosing a kind swaps the list in place.
    open_page(page, f"{live_server.url}/history/")
    expect(page.get_by_test_id("history")).to_contain_text("Purchase at Central store")
    with page.expect_response(lambda r: "kind=" in r.url and r.request.headers.get("hx-request")):
        page.locator("select[name=kind]").select_option(index=1)
    assert violations == []

    page.get_by_test_id("languages").get_by_role("button", name="PL").click()
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    language = next(c for c in page.context.cookies() if c["name"] == "django_language")
    assert (language["httpOnly"], language["sameSite"]) == (True, "Lax")
    assert violations == []


def test_the_till_works_under_the_strict_policy(live_server, page, violations, operator):
    outlet = OutletFactory(partner=operator, code="central", name="Central store")
    cashier = User.objects.create_user("kasia", password="till-pass-2026")
    Cashier.objects.create(user=cashier, outlet=outlet)
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=42, reason="welcome")

    open_page(page, f"{live_server.url}/till/")
    # The login has its name field focused; wait for it, or a loaded machine loses a key.
    expect(page.locator("input[name=username]")).to_be_focused()
    page.keyboard.type("kasia")
    page.keyboard.press("Tab")
    page.keyboard.type("till-pass-2026")
    page.keyboard.press("Enter")
    expect(page.locator("#till-search")).to_be_focused()  # till.js runs
    page.keyboard.type(card.number)
    page.keyboard.press("Enter")  # htmx posts the search and swaps the member in
    expect(page.get_by_test_id("available")).to_have_text("42")
    expect(page.get_by_test_id("purchase-form").locator("input[name=amount]")).to_be_focused()
    assert violations == []


def test_swagger_ui_works_under_the_strict_policy(live_server, page, violations):
    open_page(page, f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock-summary-path").count() >= 7
    assert violations == []
