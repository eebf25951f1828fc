"""Signing in, at every door: the admin, the till, the cabinet and the app's token.

One budget of failed attempts per account (however its login is spelt, whatever the door)
and per address (as the trusted proxies report it), the second factor wherever the account
has one, and a till session that opens the till and nothing else."""

import time

import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.contrib.auth.models import User
from django.urls import reverse

from members.middleware import LAST_SEEN_AT, SIGNED_IN_AT
from members.models import CabinetPhone, Cashier, Member
from members.signin import TILL_BACKEND
from tests.factories import CardFactory, OutletFactory
from tests.schema_check import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "pw-test-only"
ADMIN_LOGIN = "/admin/login/?next=/admin/"


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def till_sign_in(client, username, password=PASSWORD, **extra):
    return client.post(
        reverse("till-login"), {"username": username, "password": password, **extra}, **_addr()
    )


def _addr(address: str = "10.0.0.1", forwarded: str | None = None) -> dict[str, str]:
    headers = {"REMOTE_ADDR": address}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return headers


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.fixture
def cashier_user(operator):
    user = User.objects.create_user("kasia", password=PASSWORD)
    Cashier.objects.create(user=user, outlet=OutletFactory(partner=operator))
    return user


@pytest.fixture
def customer(operator):
    card = CardFactory(partner=operator)
    user = User.objects.create_user("anna", email="anna@example.com", password=PASSWORD)
    Member.objects.filter(pk=card.member_id).update(user=user)
    return user


@pytest.fixture(autouse=True)
def _code_tolerance(settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code made just before a 30 s boundary still counts


# The till


def test_a_cashier_signs_in_at_the_till(client, cashier_user):
    response = till_sign_in(client, "kasia")
    assert response.status_code == 302
    assert client.get(reverse("till")).status_code == 200


@pytest.mark.parametrize("is_superuser", [True, False])
def test_the_till_refuses_staff_even_with_the_right_password(client, operator, is_superuser):
    User.objects.create_user("boss", password=PASSWORD, is_staff=True, is_superuser=is_superuser)
    response = till_sign_in(client, "boss")
    assert "Only cashiers sign in at the till" in response.content.decode()
    assert not signed_in(client)


def test_the_till_refuses_a_customer_account(client, customer):
    response = till_sign_in(client, "anna@example.com")
    assert "Only cashiers sign in at the till" in response.content.decode()
    assert not signed_in(client)


def test_a_session_made_at_the_till_opens_the_till_and_nothing_else(client, cashier_user):
    User.objects.filter(pk=cashier_user.pk).update(is_staff=True)  # even a staff flag
    client.force_login(cashier_user, backend=TILL_BACKEND)
    assert client.get(reverse("till")).status_code == 200
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 302
    assert "/admin/login/" in admin.url
    cabinet = client.get(reverse("cabinet-home"))
    assert cabinet.status_code == 302
    assert reverse("account_login") in cabinet.url
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_a_staff_session_opens_the_till_only_for_a_staff_member_who_is_a_cashier(
    client, cashier_user
):
    manager = User.objects.create_user("manager", password=PASSWORD, is_staff=True)
    client.force_login(manager)
    assert client.get(reverse("till")).status_code == 403
    User.objects.filter(pk=cashier_user.pk).update(is_staff=True)
    client.force_login(cashier_user)  # signed in to the back-office
    assert client.get(reverse("till")).status_code == 200


def test_a_cabinet_session_does_not_open_the_till(client, cashier_user):
    client.force_login(cashier_user, backend="allauth.account.auth_backends.AuthenticationBackend")
    response = client.get(reverse("till"))
    assert response.status_code == 302
    assert reverse("till-login") in response.url


def test_failed_till_sign_ins_are_limited_even_with_the_right_password_after(client, cashier_user):
    for _ in range(5):
        till_sign_in(client, "kasia", "wrong")
    response = till_sign_in(client, "kasia")
    assert "Too many failed sign-ins" in response.content.decode()
    assert not signed_in(client)


def test_a_cashier_with_an_authenticator_needs_its_code_at_the_till(client, cashier_user):
    secret = generate_totp_secret()
    TOTP.activate(cashier_user, secret)
    response = till_sign_in(client, "kasia")
    assert "Enter the code from your authenticator app." in response.content.decode()
    assert not signed_in(client)
    till_sign_in(client, "kasia", code=current_code(secret))
    assert client.get(reverse("till")).status_code == 200


# One budget per account, whatever the spelling or the door


def test_the_admin_lockout_counts_per_account_not_per_spelling(client):
    User.objects.create_user(
        "support", email="support@example.com", password=PASSWORD, is_staff=True
    )
    for _ in range(5):
        client.post(ADMIN_LOGIN, {"username": "support", "password": "wrong"}, **_addr())
    response = client.post(
        ADMIN_LOGIN, {"username": "support@example.com", "password": PASSWORD}, **_addr("10.0.0.2")
    )
    assert "Too many failed sign-ins" in response.content.decode()
    assert not signed_in(client)


def test_guesses_at_one_door_count_at_the_others(client, customer):
    for _ in range(2):
        client.post(ADMIN_LOGIN, {"username": "anna@example.com", "password": "x"}, **_addr())
    for _ in range(2):
        till_sign_in(client, "anna@example.com", "wrong")
    client.post(reverse("account_login"), {"login": "anna@example.com", "password": "x"}, **_addr())
    response = APIClient().post(
        "/api/v1/me/token/", {"email": "anna@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_attempts"


def test_phone_sign_ins_of_two_members_have_separate_budgets(client, operator):
    for name, phone in (("a", "+79135550001"), ("b", "+79135550002")):
        user = User.objects.create_user(name, password=PASSWORD)
        CabinetPhone.objects.create(user=user, phone=phone, verified=True)
    for address in range(5):
        client.post(
            reverse("account_login"),
            {"login": "9135550001", "password": "wrong"},
            **_addr(f"10.0.1.{address}"),
        )
    client.post(reverse("account_login"), {"login": "9135550002", "password": PASSWORD})
    assert signed_in(client)


# One budget per address, as the trusted proxies report it


def fail_ten_staff_sign_ins(client, forwarded_for, address="10.0.0.1") -> None:
    """Ten wrong passwords for ten staff accounts, each request with its own X-Forwarded-For;
    then a `fresh` staff account, never guessed at."""
    for n in range(10):
        User.objects.create_user(f"user{n}", password=PASSWORD, is_staff=True)
        client.post(
            ADMIN_LOGIN,
            {"username": f"user{n}", "password": "wrong"},
            **_addr(address, forwarded=forwarded_for(n)),
        )
    User.objects.create_user("fresh", password=PASSWORD, is_staff=True)


def test_with_no_trusted_proxy_a_forged_forwarded_for_gives_no_more_guesses(client, operator):
    fail_ten_staff_sign_ins(client, lambda n: f"203.0.113.{n}")
    response = client.post(
        ADMIN_LOGIN,
        {"username": "fresh", "password": PASSWORD},
        **_addr(forwarded="198.51.100.7"),
    )
    assert "Too many failed sign-ins" in response.content.decode()


def test_behind_one_proxy_each_client_has_its_own_budget(client, operator, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.254"
    # The client wrote an address of its own in front: the proxy appended the real one.
    fail_ten_staff_sign_ins(client, lambda n: f"198.51.100.{n}, 203.0.113.5", address=proxy)
    same_client = client.post(
        ADMIN_LOGIN, {"username": "fresh", "password": PASSWORD}, **_addr(proxy, "203.0.113.5")
    )
    assert "Too many failed sign-ins" in same_client.content.decode()
    client.post(
        ADMIN_LOGIN, {"username": "fresh", "password": PASSWORD}, **_addr(proxy, "203.0.113.6")
    )
    assert signed_in(client)


# The mobile app's token


def token(data, **headers):
    return APIClient().post("/api/v1/me/token/", data, format="json", **headers)


def test_a_wrong_password_is_401_with_the_scheme_to_use(customer):
    response = token({"email": "anna@example.com", "password": "nope"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"] == "authentication_failed"


def test_an_account_with_an_authenticator_gets_no_token_for_its_password_alone(customer):
    secret = generate_totp_secret()
    TOTP.activate(customer, secret)
    alone = token({"email": "anna@example.com", "password": PASSWORD})
    assert (alone.status_code, alone.json()["error"]) == (401, "code_required")
    assert "token" not in alone.json()
    wrong = token({"email": "anna@example.com", "password": PASSWORD, "code": "000000"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "code_wrong")
    right = token({"email": "anna@example.com", "password": PASSWORD, "code": current_code(secret)})
    assert right.status_code == 200
    assert right.json()["token"]


def test_token_guesses_lock_the_account_as_the_cabinet_does(customer):
    for n in range(5):
        token({"email": "anna@example.com", "password": f"guess-{n}"}, REMOTE_ADDR=f"10.1.0.{n}")
    response = token({"email": "anna@example.com", "password": PASSWORD}, REMOTE_ADDR="10.1.0.9")
    assert (response.status_code, response.json()["error"]) == (429, "too_many_attempts")


def test_rotating_forwarded_for_does_not_reset_the_token_throttle(customer):
    statuses = [
        token(
            {"email": f"nobody{n}@example.com", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(12)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


# Sessions of the back-office and the till end by themselves


def _age(client, key: str, seconds: int) -> None:
    session = client.session
    session[key] -= seconds
    session.save()


def test_a_staff_session_ends_after_half_an_hour_without_a_request(client):
    boss = User.objects.create_superuser("boss", password=PASSWORD)
    client.force_login(boss)
    assert client.get("/admin/").status_code == 200
    _age(client, LAST_SEEN_AT, 29 * 60)
    assert client.get("/admin/").status_code == 200  # and this request counts as activity
    _age(client, LAST_SEEN_AT, 31 * 60)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response.url
    assert not signed_in(client)


def test_a_till_session_ends_twelve_hours_after_signing_in_however_busy(client, cashier_user):
    client.force_login(cashier_user, backend=TILL_BACKEND)
    assert client.get(reverse("till")).status_code == 200
    _age(client, SIGNED_IN_AT, 12 * 3600 + 1)
    response = client.get(reverse("till"))
    assert response.status_code == 302
    assert reverse("till-login") in response.url


def test_a_customers_session_is_theirs_to_keep(client, customer):
    client.force_login(customer, backend="allauth.account.auth_backends.AuthenticationBackend")
    assert client.get(reverse("cabinet-home")).status_code == 200
    assert LAST_SEEN_AT not in client.session
