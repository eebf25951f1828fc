"""The till in Chromium, keyboard alone: sign in, scan, issue, buy, pay with points,
take a voucher."""

import re
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from loyalty.program import program_settings_update
from members.ean import ean13_from_serial
from members.models import Cashier, Member, TillAction
from rewards.services import personal_offer_issue
from tests.factories import OutletFactory, PartnerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def till_login():
    operator = PartnerFactory(code="main")
    program_settings_update(pending_days=0, max_redeem_share="1", earn_points=1, earn_amount=100)
    outlet = OutletFactory(partner=operator, code="central", name="Central store")
    user = User.objects.create_user("kasia", password="till-pass-2026")
    Cashier.objects.create(user=user, outlet=outlet)
    return "kasia", "till-pass-2026"


def test_a_cashier_serves_a_new_customer_with_the_keyboard(
    live_server, page, till_login, artifacts_dir
):
    own_host = urlparse(live_server.url).netloc
    foreign = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlparse(route.request.url).netloc == own_host
            else (foreign.append(route.request.url), route.abort())
        ),
    )
    username, password = till_login
    keyboard = page.keyboard

    page.goto(f"{live_server.url}/till/")
    keyboard.type(username)  # the login box has the focus
    keyboard.press("Tab")
    keyboard.type(password)
    keyboard.press("Enter")
    expect(page.locator("#till-search")).to_be_focused()

    blank = ean13_from_serial("200", 777)
    keyboard.type(blank)  # a scanner types the digits and Enter
    keyboard.press("Enter")
    expect(page.get_by_text("Issue the card")).to_be_visible()
    expect(page.locator("input[name=phone]")).to_be_focused()
    keyboard.type("8 (913) 222-33-44")
    keyboard.press("Tab")
    keyboard.type("Anna Kowalska")
    keyboard.press("Enter")
    member = page.get_by_test_id("member")
    expect(member).to_contain_text("Anna Kowalska")
    expect(page.get_by_test_id("card-number")).to_have_text(blank)

    expect(page.get_by_test_id("purchase-form").locator("input[name=amount]")).to_be_focused()
    keyboard.type("2500")
    keyboard.press("Tab")
    keyboard.type("S1-0001")
    keyboard.press("Enter")
    expect(page.get_by_test_id("earned")).to_have_text("25")
    page.screenshot(path=artifacts_dir / "till-purchase.png", full_page=True)
    expect(page.locator("#till-search")).to_be_focused()

    keyboard.type(blank)
    keyboard.press("Enter")
    expect(page.get_by_test_id("available")).to_have_text("25")
    amount = page.get_by_test_id("purchase-form").locator("input[name=amount]")
    expect(amount).to_be_focused()  # the form takes the focus once it is shown
    keyboard.type("100")
    keyboard.press("Tab")
    keyboard.type("S1-0002")
    keyboard.press("Tab")
    keyboard.press("Control+A")
    keyboard.type("20")  # pay 20 of the 100 with points
    keyboard.press("Enter")
    expect(page.get_by_test_id("redeemed")).to_have_text("20")

    keyboard.press("Escape")
    expect(page.locator("#till-search")).to_be_focused()
    expect(page.locator("#till-search")).to_have_value("")
    keyboard.type("+7 913 222 33 44")  # the phone finds her too
    keyboard.press("Enter")
    expect(page.get_by_test_id("available")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("available")).to_have_text("5")

    offer = personal_offer_issue(
        member=Member.objects.get(phone="+79132223344"),
        title="15% off today",
        valid_days=3,
        discount_percent=Decimal(15),
    )
    keyboard.press("Escape")
    keyboard.type(offer.display_code)  # the customer shows the voucher's barcode
    keyboard.press("Enter")
    expect(page.get_by_test_id("use-voucher")).to_be_focused()
    keyboard.press("Enter")
    expect(page.get_by_test_id("voucher-done")).to_contain_text("15% off today")
    offer.refresh_from_db()
    assert offer.status == "used"

    assert foreign == []
    kinds = sorted(TillAction.objects.values_list("kind", flat=True))
    assert kinds == [
        "issue",
        "lookup",
        "lookup",
        "lookup",
        "lookup",
        "purchase",
        "purchase",
        "voucher",
    ]


def test_a_second_card_for_a_members_phone_is_added_with_the_code_they_read_out(
    live_server, page, till_login, sms_outbox
):
    from tests.factories import CardFactory
    from tests.sms import texted_code

    username, password = till_login
    known = CardFactory(member__phone="+79135550011", member__full_name="Olga Nowak")
    keyboard = page.keyboard
    page.goto(f"{live_server.url}/till/")
    keyboard.type(username)
    keyboard.press("Tab")
    keyboard.type(password)
    keyboard.press("Enter")
    expect(page.locator("#till-search")).to_be_focused()

    second = ean13_from_serial("200", 778)
    keyboard.type(second)
    keyboard.press("Enter")
    expect(page.locator("input[name=phone]")).to_be_focused()
    keyboard.type("8 913 555-00-11")
    keyboard.press("Enter")
    code_box = page.locator("input[name=code]")
    expect(code_box).to_be_focused()
    expect(page.get_by_text("A code went to +7 *** ***-00-11")).to_be_visible()

    keyboard.type("000000")
    keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("4 tries left")
    expect(code_box).to_be_focused()
    code_box.fill("")
    keyboard.type(texted_code(known.member.phone))
    keyboard.press("Enter")
    expect(page.get_by_test_id("member")).to_contain_text("Olga Nowak")
    expect(page.get_by_test_id("card-number")).to_have_text(second)
