"""The customer cabinet: sign-up, a virtual card or a linked one, balance, history, rewards."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.ledger import ledger_breaches
from loyalty.models import EventAward, EventBonus, Tier, TierLadder
from loyalty.services.purchases import purchase_record
from members.models import CabinetPhone, Card, CardLinkCode, Member
from rewards.models import Reward, Voucher
from rewards.services import reward_redeem
from tests import sms
from tests.balances import available_points
from tests.factories import CardFactory, OutletFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sms_outbox(settings):
    settings.SMS_BACKEND = "tests.sms.outbox_send"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def customer(client, operator, program):
    user = User.objects.create_user("anna", email="anna@example.com", password="pw-test-only")
    client.force_login(user)
    return user


def sent_code() -> str:
    _phone, text = sms.outbox[-1]
    return re.search(r"\b(\d{6})\b", text).group(1)


@pytest.fixture
def link_card(client, django_capture_on_commit_callbacks):
    """Asks to link a card; the code is texted once the request commits (here, at once)."""

    def ask(number: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("cabinet-link-card"), {"card": number})

    return ask


def test_signing_up_by_email_leads_to_getting_a_card(client, operator, program):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new@example.com",
            "password1": "a-long-Passw0rd",
            "password2": "a-long-Passw0rd",
        },
    )
    assert response.status_code == 302
    home = client.get(reverse("cabinet-home"))
    assert home.url == reverse("cabinet-start")
    assert "Get a virtual card" in client.get(home.url).content.decode()


def test_a_virtual_card_comes_with_the_signup_bonus(client, customer):
    EventBonus.objects.create(event="signup", points=100)
    response = client.post(reverse("cabinet-virtual-card"))
    assert response.url == reverse("cabinet-home")
    member = Member.objects.get(user=customer)
    card = Card.objects.get(member=member)
    assert (card.is_virtual, card.status, member.source, member.email) == (
        True,
        "active",
        "cabinet",
        "anna@example.com",
    )
    page = client.get(reverse("cabinet-home")).content.decode()
    assert 'data-testid="available">100<' in page
    assert "<svg" in page  # the barcode and the QR code, inline
    assert card.number in page


def test_a_second_virtual_card_is_refused(client, customer):
    client.post(reverse("cabinet-virtual-card"))
    client.post(reverse("cabinet-virtual-card"))
    assert Card.objects.filter(member__user=customer).count() == 1


def test_linking_a_card_with_the_code_sent_to_its_phone(client, customer, operator, link_card):
    card = CardFactory(partner=operator)
    response = link_card(card.number)
    assert response.status_code == 302
    phone, text = sms.outbox[-1]
    assert phone == card.member.phone
    assert card.number in text
    page = client.get(response.url).content.decode()
    assert card.member.phone[-2:] in page
    assert card.member.phone not in page  # masked
    done = client.post(response.url, {"code": sent_code()})
    assert done.url == reverse("cabinet-home")
    card.member.refresh_from_db()
    assert card.member.user == customer


def test_a_wrong_code_counts_and_five_end_the_attempt(client, customer, operator, link_card):
    card = CardFactory(partner=operator)
    url = link_card(card.number).url
    code = sent_code()
    wrong = "000000" if code != "000000" else "111111"
    first = client.post(url, {"code": wrong})
    assert first.status_code == 422
    assert "4 tries left" in first.content.decode()
    for _attempt in range(4):
        client.post(url, {"code": wrong})
    refused = client.post(url, {"code": code})
    assert "Too many wrong codes" in refused.content.decode()
    card.member.refresh_from_db()
    assert card.member.user is None


def test_an_expired_code_links_nothing(client, customer, operator, link_card):
    card = CardFactory(partner=operator)
    url = link_card(card.number).url
    CardLinkCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post(url, {"code": sent_code()})
    assert "expired" in response.content.decode()


@pytest.mark.parametrize(
    ("number", "message"),
    [("123", "13 digits"), ("2000000000015", "cannot be linked")],
    ids=["malformed", "unknown"],
)
def test_a_card_that_cannot_be_linked_is_explained(client, customer, number, message):
    response = client.post(reverse("cabinet-link-card"), {"card": number})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not sms.outbox


def test_a_card_already_in_another_account_cannot_be_linked(client, customer, operator):
    card = CardFactory(partner=operator)
    other = User.objects.create_user("bob", email="bob@example.com", password="pw-test-only")
    Member.objects.filter(pk=card.member_id).update(user=other)
    response = client.post(reverse("cabinet-link-card"), {"card": card.number})
    assert response.status_code == 422
    assert not sms.outbox


def test_codes_are_limited_per_hour(client, customer, operator, link_card):
    card = CardFactory(partner=operator)
    for _attempt in range(5):
        link_card(card.number)
    response = link_card(card.number)
    assert "Too many codes" in response.content.decode()
    assert len(sms.outbox) == 5


def test_nobody_opens_another_users_code_page(client, customer, operator, link_card):
    card = CardFactory(partner=operator)
    url = link_card(card.number).url
    client.force_login(User.objects.create_user("eve", password="pw-test-only"))
    assert client.get(url).status_code == 404
    assert client.post(url, {"code": sent_code()}).status_code == 404


@pytest.fixture
def linked(client, customer, operator):
    card = CardFactory(partner=operator)
    Member.objects.filter(pk=card.member_id).update(user=customer)
    return card


def test_the_home_page_shows_pending_points_and_when_they_arrive(client, linked, operator):
    outlet = OutletFactory(partner=operator, name="Central store")
    purchase_record(
        partner=operator, outlet=outlet, card_number=linked.number, receipt_id="R1", amount=1250
    )
    page = client.get(reverse("cabinet-home")).content.decode()
    assert 'data-testid="pending">12<' in page
    assert "arrive on" in page


def test_points_expiring_within_thirty_days_are_shown(client, linked):
    long_ago = timezone.now() - timedelta(days=350)
    points_adjust(member=linked.member, points=70, reason="old points", now=long_ago)
    page = client.get(reverse("cabinet-home")).content.decode()
    assert 'data-testid="expiring">70<' in page


def test_history_explains_each_movement_and_filters(client, linked, operator):
    outlet = OutletFactory(partner=operator, name="Central store")
    purchase_record(
        partner=operator, outlet=outlet, card_number=linked.number, receipt_id="R1", amount=1250
    )
    points_adjust(member=linked.member, points=5, reason="sorry")
    page = client.get(reverse("cabinet-history")).content.decode()
    assert "Purchase at Central store" in page
    assert "+12" in page
    assert "Base rate: 12" in page  # the rule behind the points
    earned = client.get(reverse("cabinet-history"), {"kind": "adjustments"}).content.decode()
    assert "Purchase at Central store" not in earned
    assert "+5" in earned
    future = (timezone.now() + timedelta(days=2)).date().isoformat()
    assert (
        "Nothing here yet"
        in client.get(reverse("cabinet-history"), {"from": future}).content.decode()
    )


def test_history_is_paginated(client, linked):
    for n in range(30):
        points_adjust(member=linked.member, points=1, reason=f"r{n}")
    first = client.get(reverse("cabinet-history")).content.decode()
    assert first.count("<li>") == 25
    assert "page=2" in first
    second = client.get(reverse("cabinet-history"), {"page": 2}).content.decode()
    assert second.count("<li>") == 5
    assert "page=3" not in second
    assert "page=1" in second


def test_the_catalogue_marks_what_the_member_can_afford(client, linked):
    points_adjust(member=linked.member, points=150, reason="balance")
    Reward.objects.create(kind="gift", name_en="Mug", point_cost=100)
    Reward.objects.create(kind="gift", name_en="Umbrella", point_cost=400)
    page = client.get(reverse("cabinet-rewards")).content.decode()
    assert "Mug" in page
    assert "250 points to go" in page


def test_redeeming_a_reward_shows_the_voucher_once(client, linked):
    points_adjust(member=linked.member, points=150, reason="balance")
    reward = Reward.objects.create(
        kind="percent_discount", name_en="10% off", point_cost=100, discount_percent=Decimal(10)
    )
    url = reverse("cabinet-reward", args=[reward.pk])
    key = re.search(r'name="key" value="(\w+)"', client.get(url).content.decode()).group(1)
    client.post(url, {"key": key})
    response = client.post(url, {"key": key})  # a double tap
    assert response.url == reverse("cabinet-vouchers")
    voucher = Voucher.objects.get()
    page = client.get(reverse("cabinet-vouchers")).content.decode()
    assert voucher.display_code in page
    assert "<svg" in page


def test_a_reward_out_of_reach_cannot_be_confirmed(client, linked):
    reward = Reward.objects.create(kind="gift", name_en="Bike", point_cost=10_000)
    page = client.get(reverse("cabinet-reward", args=[reward.pk])).content.decode()
    assert "Not enough points" in page
    assert "confirm-redeem" not in page
    client.post(reverse("cabinet-reward", args=[reward.pk]), {"key": "k"})
    assert not Voucher.objects.exists()


def test_members_see_only_their_own_vouchers(client, linked, operator):
    other = CardFactory(partner=operator)
    points_adjust(member=other.member, points=100, reason="balance")
    reward = Reward.objects.create(kind="gift", name_en="Mug", point_cost=100)
    theirs = reward_redeem(member_id=other.member_id, reward_id=reward.pk).display_code
    assert theirs not in client.get(reverse("cabinet-vouchers")).content.decode()


def test_the_cabinet_needs_a_login(client, operator):
    for name in ["cabinet-home", "cabinet-history", "cabinet-rewards", "cabinet-vouchers"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))


def test_the_cabinet_speaks_the_chosen_language(client, linked):
    client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    page = client.get(reverse("cabinet-home")).content.decode()
    assert "Доступно баллов" in page
    assert '<html lang="ru">' in page


def test_failed_logins_are_rate_limited(client, operator):
    User.objects.create_user("zoe", email="zoe@example.com", password="pw-test-only")
    for _attempt in range(5):
        client.post(reverse("account_login"), {"login": "zoe@example.com", "password": "wrong"})
    response = client.post(
        reverse("account_login"), {"login": "zoe@example.com", "password": "pw-test-only"}
    )
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session


def profile_form(**fields):
    data = {"full_name": "Anna Nowak", "email": "anna@example.com", "birth_date": "1990-05-17"}
    return {**data, **fields}


def test_completing_the_profile_earns_the_bonus_once(client, linked):
    EventBonus.objects.create(event="profile_completed", points=50)
    first = client.post(reverse("cabinet-profile"), profile_form(), follow=True)
    assert "+50 points" in first.content.decode()
    client.post(reverse("cabinet-profile"), profile_form(full_name="Anna N."))
    linked.member.refresh_from_db()
    assert linked.member.full_name == "Anna N."
    assert EventAward.objects.filter(member=linked.member, event="profile_completed").count() == 1


def test_consents_are_saved_with_the_time_they_changed(client, linked):
    client.post(reverse("cabinet-profile"), profile_form(consent_sms="on"))
    linked.member.refresh_from_db()
    assert (linked.member.consent_sms, linked.member.consent_email) == (True, False)
    changed_at = linked.member.consents_updated_at
    assert changed_at is not None
    client.post(reverse("cabinet-profile"), profile_form(consent_sms="on", full_name="A."))
    linked.member.refresh_from_db()
    assert linked.member.consents_updated_at == changed_at  # consents untouched this time


def test_a_bad_birth_date_is_explained(client, linked):
    response = client.post(reverse("cabinet-profile"), profile_form(birth_date="17.05.1990x"))
    assert response.status_code == 200
    assert "valid date" in response.content.decode()


def test_a_friend_who_signs_up_through_the_invitation_is_a_referral(client, customer, linked):
    invite = client.get(reverse("cabinet-profile")).content.decode()
    assert f"/join/{linked.member.referral_code}/" in invite
    client.logout()
    client.get(reverse("cabinet-join", args=[linked.member.referral_code]))
    friend = User.objects.create_user("friend", email="f@example.com", password="pw-test-only")
    client.force_login(friend)
    client.post(reverse("cabinet-virtual-card"))
    assert Member.objects.get(user=friend).referred_by == linked.member
    client.force_login(customer)
    assert "Friends joined: 1" in client.get(reverse("cabinet-profile")).content.decode()


def test_the_data_export_holds_the_members_data_and_no_one_elses(client, linked, operator):
    other = CardFactory(partner=operator)
    points_adjust(member=linked.member, points=15, reason="mine")
    points_adjust(member=other.member, points=99, reason="theirs")
    response = client.get(reverse("cabinet-export"))
    assert response["Content-Disposition"].startswith("attachment")
    data = response.json()
    assert data["member"]["phone"] == linked.member.phone
    assert [card["number"] for card in data["cards"]] == [linked.number]
    assert [t["amount"] for t in data["transfers"]] == [15]
    assert other.member.phone not in response.content.decode()


def test_deleting_the_account_anonymises_and_keeps_the_ledger(client, linked):
    points_adjust(member=linked.member, points=40, reason="balance")
    refused = client.post(reverse("cabinet-delete"), {"password": "wrong"})
    assert refused.status_code == 422
    response = client.post(reverse("cabinet-delete"), {"password": "pw-test-only"})
    assert response.url == reverse("account_login")
    member = Member.objects.get(pk=linked.member_id)
    assert (member.status, member.phone, member.email, member.full_name, member.user) == (
        "anonymised",
        None,
        "",
        "",
        None,
    )
    assert Card.objects.get(pk=linked.pk).status == "blocked"
    assert not User.objects.filter(username="anna").exists()
    assert available_points(member) == 40
    assert not ledger_breaches()


def signup_by_phone(client, phone="8 (913) 555-12-34"):
    return client.post(
        reverse("account_signup"),
        {"phone": phone, "password1": "a-long-Passw0rd", "password2": "a-long-Passw0rd"},
    )


def test_signing_up_by_phone_verifies_it_and_links_the_card_issued_to_it(client, operator):
    card = CardFactory(partner=operator, member__phone="+79135551234")
    response = signup_by_phone(client)
    assert response.status_code == 302
    phone, text = sms.outbox[-1]
    assert phone == "+79135551234"
    verify = client.post(response.url, {"code": re.search(r"(\d{6})$", text).group(1)})
    assert verify.status_code == 302
    user = CabinetPhone.objects.get(phone="+79135551234").user
    card.member.refresh_from_db()
    assert card.member.user == user
    page = client.get(reverse("cabinet-home")).content.decode()
    assert card.number in page


def test_a_new_phone_gets_a_virtual_card_with_that_phone(client, operator, program):
    response = signup_by_phone(client, "+7 913 555 00 77")
    code = re.search(r"(\d{6})$", sms.outbox[-1][1]).group(1)
    client.post(response.url, {"code": code})
    client.post(reverse("cabinet-virtual-card"))
    member = Member.objects.get(user__cabinet_phone__phone="+79135550077")
    assert member.phone == "+79135550077"


def test_members_sign_in_with_their_phone_too(client, operator):
    user = User.objects.create_user("p", password="pw-test-only")
    CabinetPhone.objects.create(user=user, phone="+79135550000", verified=True)
    client.post(reverse("account_login"), {"login": "9135550000", "password": "pw-test-only"})
    assert client.session.get("_auth_user_id") == str(user.pk)


def test_signing_up_needs_an_email_or_a_phone(client, operator):
    response = client.post(
        reverse("account_signup"), {"password1": "a-long-Passw0rd", "password2": "a-long-Passw0rd"}
    )
    assert response.status_code == 200
    assert "email or a phone" in response.content.decode()
    assert not User.objects.exists()


def test_an_unreadable_phone_is_explained(client, operator):
    response = signup_by_phone(client, "12-34")
    assert "valid phone number" in response.content.decode()


def test_the_home_page_stays_within_twelve_queries(
    client, linked, operator, django_assert_max_num_queries
):
    ladder = TierLadder.objects.create(name="Status", window="calendar_month")
    Tier.objects.create(ladder=ladder, name="VIP", rank=1, min_spend=10_000)
    for n in range(40):
        points_adjust(member=linked.member, points=3, reason=f"r{n}")
    purchase_record(partner=operator, card_number=linked.number, receipt_id="R1", amount=900)
    client.get(reverse("cabinet-home"))  # the program's settings and tiers are cached
    with django_assert_max_num_queries(12):
        response = client.get(reverse("cabinet-home"))
    page = response.content.decode().replace("\xa0", " ")
    assert re.search(r"Spend RUB ?9,100\.00 more to reach VIP\.", page)
    assert 'aria-valuenow="9"' in page


def test_vouchers_are_named_in_the_readers_language(client, linked):
    points_adjust(member=linked.member, points=100, reason="balance")
    reward = Reward.objects.create(
        kind="gift", name_en="Mug", name_ru="Кружка", name_pl="Kubek", point_cost=100
    )
    reward_redeem(member_id=linked.member_id, reward_id=reward.pk)
    client.post(reverse("set_language"), {"language": "pl", "next": "/"})
    assert "Kubek" in client.get(reverse("cabinet-vouchers")).content.decode()


def test_signing_up_once_the_phone_code_limit_is_reached_is_explained_and_saves_nothing(
    client, operator
):
    """allauth texts a sign-up's code after saving the account and raises once its limit
    (three codes a minute from one address) is reached: the form refuses first instead."""
    for n in range(3):
        assert signup_by_phone(Client(), f"8 (913) 555-00-0{n}").status_code == 302
    users = User.objects.count()
    response = signup_by_phone(client, "8 (913) 555-00-09")
    assert response.status_code == 200
    assert "Too many codes were sent" in response.content.decode()
    assert User.objects.count() == users


def test_a_password_shorter_than_twelve_characters_is_refused(client, operator):
    response = client.post(
        reverse("account_signup"),
        {"email": "short@example.com", "password1": "Sh0rt-pass", "password2": "Sh0rt-pass"},
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    assert not User.objects.filter(email="short@example.com").exists()


def test_a_member_is_told_by_email_when_their_password_changes(client, customer, mailoutbox):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=customer, email=customer.email, primary=True, verified=True)
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": "pw-test-only",
            "password1": "a-new-long-Passw0rd",
            "password2": "a-new-long-Passw0rd",
        },
    )
    assert response.status_code == 302
    assert [message.to for message in mailoutbox] == [["anna@example.com"]]
