"""Cabinet security: two-factor sign-in, password reset, and one member never seeing
another's data on any page or member API call."""

import re
import time

import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse

from loyalty.adjustments import points_adjust
from loyalty.services.purchases import purchase_record
from members.models import Member
from rewards.models import Reward
from rewards.services import reward_redeem
from tests.factories import CardFactory, OutletFactory
from tests.schema_check import APIClient

pytestmark = pytest.mark.django_db


def test_with_totp_on_a_password_alone_does_not_sign_in(client, operator, settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code made just before a 30 s boundary still counts
    user = User.objects.create_user("t", email="t@example.com", password="pw-test-only")
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = client.post(
        reverse("account_login"), {"login": "t@example.com", "password": "pw-test-only"}
    )
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    client.post(response.url, {"code": code})
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_forgotten_password_is_reset_by_email(client, operator):
    User.objects.create_user("r", email="r@example.com", password="pw-test-only")
    client.post(reverse("account_reset_password"), {"email": "r@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/password/reset/key/\S+", mail.outbox[0].body).group(0)
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"password1": "a-new-Passw0rd!", "password2": "a-new-Passw0rd!"},
    )
    assert User.objects.get(username="r").check_password("a-new-Passw0rd!")


def test_no_page_or_member_api_call_shows_another_members_data(client, operator, program):
    outlet = OutletFactory(partner=operator, name="Secret outlet")
    mine = CardFactory(partner=operator, member__full_name="Anna Mine")
    theirs = CardFactory(partner=operator, member__full_name="Zed Theirs")
    me = User.objects.create_user("me", email="me@example.com", password="pw-test-only")
    them = User.objects.create_user("them", email="them@example.com", password="pw-test-only")
    Member.objects.filter(pk=mine.member_id).update(user=me)
    Member.objects.filter(pk=theirs.member_id).update(user=them)
    points_adjust(member=theirs.member, points=500, reason="their balance")
    purchase_record(
        partner=operator, outlet=outlet, card_number=theirs.number, receipt_id="THEIR-R", amount=77
    )
    reward = Reward.objects.create(kind="gift", name_en="Mug", point_cost=100)
    their_code = reward_redeem(member_id=theirs.member_id, reward_id=reward.pk).code
    markers = [
        "Zed Theirs",
        theirs.member.phone,
        theirs.number,
        their_code,
        "THEIR-R",
        "Secret outlet",
        theirs.member.referral_code,
    ]
    client.force_login(me)
    api = APIClient()
    api.force_authenticate(me)
    pages = [
        client.get(reverse(name))
        for name in [
            "cabinet-home",
            "cabinet-history",
            "cabinet-rewards",
            "cabinet-vouchers",
            "cabinet-badges",
            "cabinet-roadmap",
            "cabinet-leaderboard",
            "cabinet-profile",
            "cabinet-export",
        ]
    ]
    calls = [
        api.get(path) for path in ["/api/v1/me/", "/api/v1/me/history/", "/api/v1/me/vouchers/"]
    ]
    for response in pages + calls:
        assert response.status_code == 200
        body = response.content.decode()
        leaked = [marker for marker in markers if marker in body]
        assert leaked == [], response.request["PATH_INFO"]
