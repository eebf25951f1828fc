"""The till, request by request: cashiers only, every step audited, no points to oneself."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from loyalty.models import Purchase
from members.ean import ean13_from_serial
from members.models import Card, Cashier, TillAction
from members.signin import TILL_BACKEND
from rewards.models import Voucher
from rewards.services import personal_offer_issue
from tests.balances import available_points
from tests.factories import CardFactory, OutletFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(client, operator, instant_program):
    outlet = OutletFactory(partner=operator, code="central", name="Central")
    user = User.objects.create_user("kasia", password="pw-test-only", first_name="Kasia")
    profile = Cashier.objects.create(user=user, outlet=outlet, phone="+79130000099")
    client.force_login(user, backend=TILL_BACKEND)
    return profile


def post(client, url_name, **data):
    return client.post(reverse(url_name), data, HTTP_HX_REQUEST="true")


def test_only_a_signed_in_cashier_reaches_the_till(client, operator):
    response = client.get(reverse("till"))
    assert response.status_code == 302
    assert reverse("till-login") in response.url
    client.force_login(User.objects.create_user("clerk", password="pw-test-only", is_staff=True))
    assert client.get(reverse("till")).status_code == 403
    assert post(client, "till-find", q="123").status_code == 403


def test_the_page_has_the_search_box_focused(client, cashier):
    page = client.get(reverse("till")).content.decode()
    assert 'id="till-search"' in page
    assert "autofocus" in page
    assert "htmx" in page  # the vendored script, no CDN
    assert "https://" not in page


def test_a_scanned_card_shows_the_member_balance_and_discount(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    response = post(client, "till-find", q=card.number)
    page = response.content.decode()
    assert card.member.full_name in page
    assert 'data-testid="available">0<' in page
    action = TillAction.objects.get()
    assert (action.kind, action.member, action.outlet) == ("lookup", card.member, cashier.outlet)


def test_a_phone_finds_the_member_too(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    page = post(client, "till-find", q=card.member.phone).content.decode()
    assert card.number in page


def test_an_unknown_card_offers_to_issue_it(client, cashier):
    blank = ean13_from_serial("200", 424242)
    page = post(client, "till-find", q=blank).content.decode()
    assert "Issue the card" in page
    assert f'value="{blank}"' in page
    response = post(client, "till-issue", card=blank, phone="8 (913) 555-44-33", name="Olga")
    assert response.status_code == 200
    card = Card.objects.get(number=blank)
    assert (card.member.phone, card.outlet, card.issued_by) == (
        "+79135554433",
        cashier.outlet,
        cashier.user,
    )
    assert TillAction.objects.filter(kind="issue", card_number=blank).exists()


def test_a_purchase_earns_and_pays_with_points_and_explains_itself(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    earned = post(
        client, "till-purchase", card=card.number, amount="1 500,00", receipt="T-1", key="k1"
    )
    assert 'data-testid="earned">15<' in earned.content.decode()
    paid = post(
        client,
        "till-purchase",
        card=card.number,
        amount="100",
        receipt="T-2",
        redeem="10",
        key="k2",
    )
    assert 'data-testid="redeemed">10<' in paid.content.decode()
    # 15 earned, 10 paid with points; the 90 paid in money earns nothing at 1 per 100.
    assert available_points(card.member) == 15 - 10 + 0
    purchase = Purchase.objects.get(receipt_id="T-1")
    assert (purchase.outlet, purchase.partner) == (cashier.outlet, cashier.outlet.partner)
    assert TillAction.objects.filter(kind="purchase").count() == 2


def test_pressing_enter_twice_is_one_purchase(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    for _ in range(2):
        post(client, "till-purchase", card=card.number, amount="500", receipt="T-9", key="same")
    assert Purchase.objects.filter(receipt_id="T-9").count() == 1


def test_a_return_takes_the_points_back(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    post(client, "till-purchase", card=card.number, amount="1000", receipt="T-5", key="k5")
    page = post(client, "till-refund", receipt="T-5", amount="1000", key="r5").content.decode()
    assert "Returned 1000" in page
    assert available_points(card.member) == 0
    assert TillAction.objects.filter(kind="refund").exists()


def test_a_cashier_cannot_credit_their_own_card(client, cashier):
    own = CardFactory(partner=cashier.outlet.partner, member__phone=cashier.phone)
    response = post(client, "till-purchase", card=own.number, amount="1000", receipt="X", key="x")
    assert response.status_code == 422
    assert "own phone" in response.content.decode()
    assert not Purchase.objects.exists()
    blank = ean13_from_serial("200", 5151)
    issue = post(client, "till-issue", card=blank, phone="+7 913 000-00-99", name="Me")
    assert issue.status_code == 422
    assert not Card.objects.filter(number=blank).exists()
    assert TillAction.objects.filter(kind="refused").count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "abc", "receipt": "R"}, "Enter the amount as a number"),
        ({"amount": "-5", "receipt": "R"}, "above zero"),
        ({"amount": "100", "receipt": ""}, "Enter the receipt number."),
        ({"amount": "100", "receipt": "R", "redeem": "many"}, "whole number"),
        ({"amount": "100", "receipt": "R", "redeem": "9999"}, "At most 100 points"),
    ],
)
def test_bad_input_is_explained_not_a_500(client, cashier, data, message):
    card = CardFactory(partner=cashier.outlet.partner)
    response = post(client, "till-purchase", card=card.number, key="k", **data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Purchase.objects.exists()


def test_a_return_of_an_unknown_receipt_is_explained(client, cashier):
    response = post(client, "till-refund", receipt="NOPE", amount="10", key="r")
    assert response.status_code == 422
    assert "No purchase with this receipt number." in response.content.decode()


def test_cashier_kpis_count_cards_and_members_who_came_back(client, cashier, operator):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.services.purchases import purchase_record

    now = timezone.now()
    for serial, visits_after in enumerate([[], [10], [45], [5, 80]]):
        result = post(
            client,
            "till-issue",
            card=ean13_from_serial("200", 9000 + serial),
            phone=f"+7913444000{serial}",
            name="",
        )
        assert result.status_code == 200
        card = Card.objects.get(number=ean13_from_serial("200", 9000 + serial))
        Card.objects.filter(pk=card.pk).update(issued_at=now - timedelta(days=100))
        receipts = [0, *visits_after]  # the purchase at the till, then the visits after
        for index, day in enumerate(receipts):
            purchase_record(
                partner=operator,
                card_number=card.number,
                receipt_id=f"K-{serial}-{index}",
                amount=100,
                now=now - timedelta(days=100) + timedelta(days=day, hours=1),
            )
    staff = User.objects.create_superuser("boss", "b@example.com", "pw-test-only")
    client.force_login(staff)
    start = (now - timedelta(days=120)).date().isoformat()
    page = client.get(
        reverse("admin:members_cashierreport_changelist"),
        {"start": start, "end": now.date().isoformat()},
    ).content.decode()
    assert "Kasia" in page
    assert '<td class="px-3 py-2" style="text-align: right">4</td>' in page
    assert "2 (50%)" in page  # back within 30 days: the ones with a visit on day 10 or 5
    assert "3 (75%)" in page  # within 60 days: also the one on day 45
    export = client.get(
        reverse("admin:members_cashierreport_changelist"),
        {"start": start, "end": now.date().isoformat(), "export": "csv"},
    )
    lines = b"".join(export.streaming_content).decode("utf-8-sig").splitlines()
    assert (
        lines[0] == "Cashier,Outlet,Cards issued,Came back within 30 days,Came back within 60 days"
    )
    assert lines[1].endswith(",4,2,3")


def test_a_scan_before_the_script_is_ready_still_finds_the_member(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    page = client.post(reverse("till"), {"q": card.number}).content.decode()
    assert 'data-testid="member"' in page
    assert card.member.full_name in page


def test_a_get_of_the_till_looks_nobody_up(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    page = client.get(reverse("till"), {"q": card.number}).content.decode()
    assert 'data-testid="member"' not in page
    assert not TillAction.objects.exists()


def test_another_partners_cashier_sees_a_masked_member(client, cashier, operator):
    from tests.factories import PartnerFactory

    card = CardFactory(
        partner=PartnerFactory(code="pharmacy"),
        member__full_name="Olga Nowak",
        member__phone="+79135550077",
    )
    # The cashier's partner is the operator, who sees every member in full...
    assert "Olga Nowak" in post(client, "till-find", q=card.number).content.decode()
    # ...a partner's cashier, only members of its own cards.
    other = OutletFactory(partner=PartnerFactory(code="bakery"), code="b1")
    Cashier.objects.filter(pk=cashier.pk).update(outlet=other)
    page = post(client, "till-find", q=card.number).content.decode()
    assert "Olga N." in page
    assert "Nowak" not in page
    assert "+7 *** ***-00-77" in page


def test_searches_are_limited_per_cashier(client, cashier, settings):
    settings.TILL_LOOKUPS_PER_MINUTE = 3
    card = CardFactory(partner=cashier.outlet.partner)
    statuses = [post(client, "till-find", q=card.number).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 422]
    refused = post(client, "till-find", q=card.number).content.decode()
    assert "Too many searches" in refused


def test_an_absurd_amount_at_the_till_is_explained(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    response = post(client, "till-purchase", card=card.number, amount="1e999", receipt="R1")
    assert response.status_code == 422
    assert "A receipt is at most" in response.content.decode()


def test_cashier_kpis_group_by_cashier_and_outlet(operator, instant_program):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.services.purchases import purchase_record
    from members.selectors import cashier_kpis
    from members.services import card_issue

    central = OutletFactory(partner=operator, name="Central")
    north = OutletFactory(partner=operator, name="North")
    anna = User.objects.create_user("anna", first_name="Anna")
    boris = User.objects.create_user("boris", first_name="Boris")
    issued_at = timezone.now() - timedelta(days=70)
    plan = [(anna, central, [3]), (anna, central, []), (anna, north, [40]), (boris, north, [1])]
    for serial, (cashier, outlet, visits) in enumerate(plan):
        card = card_issue(
            partner=operator,
            card_number=ean13_from_serial("200", 7000 + serial),
            phone=f"+7913777000{serial}",
            outlet=outlet,
            issued_by=cashier,
            now=issued_at,
        ).card
        for index, day in enumerate([0, *visits]):
            purchase_record(
                partner=operator,
                card_number=card.number,
                receipt_id=f"G-{serial}-{index}",
                amount=100,
                now=issued_at + timedelta(days=day, minutes=5),
            )
    rows = cashier_kpis(issued_at - timedelta(days=1), timezone.now())
    summary = {
        (r["cashier"], r["outlet"]): (r["issued"], r["repeat_30"], r["repeat_60"]) for r in rows
    }
    assert summary == {
        ("Anna", "Central"): (2, 1, 1),
        ("Anna", "North"): (1, 0, 1),
        ("Boris", "North"): (1, 1, 1),
    }
    assert cashier_kpis(issued_at + timedelta(days=1), timezone.now()) == []


def _offer(member, title="15% off today"):
    return personal_offer_issue(
        member=member, title=title, valid_days=3, discount_percent=Decimal(15)
    )


def test_the_member_panel_lists_vouchers_the_till_can_take(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    voucher = _offer(card.member)
    page = post(client, "till-find", q=card.number).content.decode()
    assert "15% off today" in page
    assert voucher.display_code in page


def test_a_scanned_voucher_code_finds_its_member(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    voucher = _offer(card.member)
    page = post(client, "till-find", q=voucher.display_code.lower()).content.decode()
    assert card.number in page


def test_taking_a_voucher_uses_it_once_and_is_audited(client, cashier):
    card = CardFactory(partner=cashier.outlet.partner)
    voucher = _offer(card.member)
    done = post(client, "till-voucher", code=voucher.display_code, key="v-1").content.decode()
    assert "Voucher taken" in done
    assert "15%" in done
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_outlet) == (Voucher.Status.USED, cashier.outlet)
    again = post(client, "till-voucher", code=voucher.code, key="v-2")
    assert again.status_code == 422
    assert "already used" in again.content.decode()
    action = TillAction.objects.get(kind="voucher")
    assert (action.member, action.details["voucher"]) == (card.member, voucher.display_code)


def test_an_unknown_voucher_is_refused_plainly(client, cashier):
    response = post(client, "till-voucher", code="ABCD-EFGH-JKLM", key="v-1")
    assert response.status_code == 422
    assert "Voucher not found" in response.content.decode()
