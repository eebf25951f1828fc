"""The admin's sign-in: rate-limited, and two-factor for staff who turned it on."""

import time

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def boss(db):
    return User.objects.create_user("boss", password="pw-test-only", is_staff=True)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_page_asks_for_name_password_and_the_optional_code(client):
    html = client.get(LOGIN).content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'name="code"' in html


def test_failed_sign_ins_are_limited_even_with_the_right_password_after(client, boss):
    for _ in range(5):
        client.post(LOGIN, {"username": "boss", "password": "wrong"})
    response = client.post(LOGIN, {"username": "boss", "password": "pw-test-only"})
    assert "Too many failed sign-ins" in response.content.decode()
    assert not signed_in(client)


def test_with_an_authenticator_the_password_alone_is_not_enough(client, boss, settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code made just before a 30 s boundary still counts
    secret = generate_totp_secret()
    TOTP.activate(boss, secret)
    response = client.post(LOGIN, {"username": "boss", "password": "pw-test-only"})
    assert "Enter the code from your authenticator app." in response.content.decode()
    assert not signed_in(client)
    wrong = client.post(LOGIN, {"username": "boss", "password": "pw-test-only", "code": "000000"})
    assert "This code is not right" in wrong.content.decode()
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    client.post(LOGIN, {"username": "boss", "password": "pw-test-only", "code": code})
    assert signed_in(client)


def test_a_recovery_code_also_signs_in(client, boss):
    TOTP.activate(boss, generate_totp_secret())
    recovery = RecoveryCodes.activate(boss).get_unused_codes()[0]
    client.post(LOGIN, {"username": "boss", "password": "pw-test-only", "code": recovery})
    assert signed_in(client)


def test_staff_find_the_two_factor_settings_in_their_menu(client, boss):
    client.force_login(User.objects.create_superuser("root", password="pw-test-only"))
    assert "/accounts/2fa/" in client.get("/admin/").content.decode()
