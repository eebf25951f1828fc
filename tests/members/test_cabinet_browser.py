"""The cabinet in Chromium: sign up, link a card with the texted code, see points and
history, redeem a reward, switch the language; screenshots at phone and desktop widths."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from loyalty.adjustments import points_adjust
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from rewards.models import Reward, Voucher
from tests import sms
from tests.factories import CardFactory, OutletFactory, PartnerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def plastic_card(settings):
    settings.SMS_BACKEND = "tests.sms.outbox_send"
    sms.outbox.clear()
    operator = PartnerFactory(code="main")
    program_settings_update(pending_days=14, earn_points=1, earn_amount=100)
    outlet = OutletFactory(partner=operator, name="Central store")
    card = CardFactory(partner=operator)
    purchase_record(
        partner=operator, outlet=outlet, card_number=card.number, receipt_id="R1", amount=2500
    )
    points_adjust(member=card.member, points=180, reason="welcome back")
    Reward.objects.create(
        kind="percent_discount",
        name_en="10% off your next purchase",
        name_pl="10% zniżki na kolejne zakupy",
        point_cost=100,
        discount_percent=Decimal(10),
    )
    yield card
    sms.outbox.clear()


def test_a_customer_links_a_card_and_redeems_a_reward(
    live_server, page, plastic_card, artifacts_dir
):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("input[name=email]", "anna@example.com")
    page.fill("input[name=password1]", "a-long-Passw0rd")
    page.fill("input[name=password2]", "a-long-Passw0rd")
    page.screenshot(path=artifacts_dir / "cabinet-signup-phone.png", full_page=True)
    page.get_by_role("button", name="Sign Up").click()

    page.get_by_role("link", name="Link my card").click()
    page.fill("input[name=card]", plastic_card.number)
    page.get_by_role("button", name="Send me a code").click()
    code = re.search(r"\b(\d{6})\b", sms.outbox[-1][1]).group(1)
    page.fill("input[name=code]", code)
    page.get_by_role("button", name="Link the card").click()

    expect(page.get_by_test_id("available")).to_have_text("180")
    expect(page.get_by_test_id("pending")).to_have_text("25")
    expect(page.get_by_test_id("card").locator("svg").first).to_be_visible()
    page.screenshot(path=artifacts_dir / "cabinet-home-phone.png", full_page=True)

    page.get_by_role("link", name="History").click()
    expect(page.get_by_text("Purchase at Central store")).to_be_visible()

    page.get_by_role("link", name="Rewards", exact=True).click()
    page.get_by_role("link", name="Redeem").click()
    page.get_by_test_id("confirm-redeem").click()
    voucher = Voucher.objects.get()
    expect(page.get_by_test_id("voucher-code")).to_have_text(voucher.display_code)
    page.screenshot(path=artifacts_dir / "cabinet-vouchers-phone.png", full_page=True)

    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="My card").first.click()
    expect(page.get_by_test_id("available")).to_have_text("80")
    page.get_by_test_id("languages").get_by_role("button", name="PL").click()
    expect(page.get_by_text("Dostępne punkty")).to_be_visible()
    page.screenshot(path=artifacts_dir / "cabinet-home-desktop-pl.png", full_page=True)
    page.get_by_role("link", name="Nagrody").click()
    expect(page.get_by_text("10% zniżki na kolejne zakupy")).to_be_visible()
