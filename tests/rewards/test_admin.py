"""The catalogue and vouchers in the admin, and personal offers from a member's page."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from rewards.models import Reward, Voucher
from rewards.services import personal_offer_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client):
    client.force_login(User.objects.create_superuser("boss", password="pw-test-only"))
    return client


def reward_form(**fields):
    data = {
        "kind": "percent_discount",
        "point_cost": "100",
        "discount_percent": "10",
        "name_en": "10% off",
        "is_active": "on",
        "sort_order": "0",
        "voucher_valid_days": "30",
    }
    return {**data, **fields}


def test_a_marketer_adds_a_discount_voucher_reward(admin):
    response = admin.post(reverse("admin:rewards_reward_add"), reward_form(name_ru="Скидка 10%"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    reward = Reward.objects.get()
    assert (reward.point_cost, reward.discount_percent, reward.name_ru) == (
        100,
        Decimal("10.00"),
        "Скидка 10%",
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"discount_percent": ""}, "discount_percent", "needs its percent"),
        ({"kind": "fixed_discount"}, "discount_amount", "needs its amount"),
        ({"name_en": ""}, "name_en", "at least one language"),
        (
            {
                "available_from_0": "2026-12-01",
                "available_from_1": "00:00:00",
                "available_until_0": "2026-11-01",
                "available_until_1": "00:00:00",
            },
            "available_until",
            "after the start",
        ),
    ],
    ids=["no-percent", "no-amount", "no-name", "window-backwards"],
)
def test_a_reward_that_makes_no_sense_is_refused_with_the_reason(admin, fields, field, message):
    response = admin.post(reverse("admin:rewards_reward_add"), reward_form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not Reward.objects.exists()


def test_staff_issue_a_personal_offer_from_the_members_page(admin, card):
    url = reverse("admin:members_member_personal_offer", args=[card.member_id])
    assert admin.get(url).status_code == 200
    response = admin.post(
        url, {"title": "20% back to school", "discount_percent": "20", "valid_days": "10"}
    )
    assert response.status_code == 302
    voucher = Voucher.objects.get()
    assert (voucher.member, voucher.source, voucher.issued_by.username) == (
        card.member,
        "personal_offer",
        "boss",
    )


def test_a_personal_offer_gives_a_percent_or_an_amount_not_both(admin, card):
    url = reverse("admin:members_member_personal_offer", args=[card.member_id])
    response = admin.post(
        url,
        {"title": "x", "discount_percent": "5", "discount_amount": "100", "valid_days": "3"},
    )
    assert response.status_code == 200
    assert "either the percent or the amount" in response.content.decode()
    assert not Voucher.objects.exists()


def test_vouchers_are_found_by_the_code_as_read_out(admin, card):
    voucher = personal_offer_issue(
        member=card.member, title="Gift", valid_days=3, discount_amount=Decimal(50)
    )
    personal_offer_issue(member=card.member, title="Other", valid_days=3, discount_amount=1)
    changelist = reverse("admin:rewards_voucher_changelist")
    response = admin.get(changelist, {"q": voucher.display_code.lower()})
    assert list(response.context["cl"].result_list) == [voucher]


@pytest.fixture
def public_media(monkeypatch, tmp_path):
    # The field's storage is resolved once at import (settings.STORAGES["public"]).
    field = Reward._meta.get_field("image")
    assert field.storage.base_url == "/public-media/"
    monkeypatch.setattr(
        field, "storage", FileSystemStorage(location=tmp_path, base_url="/public-media/")
    )
    return tmp_path


def png() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, format="PNG")
    return SimpleUploadedFile("mug.png", out.getvalue(), content_type="image/png")


def test_a_reward_image_goes_to_public_storage_not_the_private_uploads(admin, public_media):
    response = admin.post(reverse("admin:rewards_reward_add"), reward_form(image=png()))
    assert response.status_code == 302
    reward = Reward.objects.get()
    assert reward.image.url.startswith("/public-media/rewards/")
    assert (public_media / reward.image.name).exists()


def test_a_file_that_is_not_an_image_is_refused(admin, public_media):
    fake = SimpleUploadedFile("mug.png", b"not an image", content_type="image/png")
    response = admin.post(reverse("admin:rewards_reward_add"), reward_form(image=fake))
    assert response.status_code == 200
    assert "image" in " ".join(response.context["adminform"].form.errors["image"])
    assert not Reward.objects.exists()
