"""Vouchers at the till through the POS API: check, use exactly once, expiry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.ledger import Code, ledger_breaches
from loyalty.models import Transfer
from loyalty.program import program_settings_update
from rewards.models import Reward, Voucher
from rewards.services import personal_offer_issue, reward_redeem, vouchers_expire_due
from tests.balances import available_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def voucher(card, program) -> Voucher:
    points_adjust(member=card.member, points=150, reason="opening balance")
    reward = Reward.objects.create(
        kind=Reward.Kind.PERCENT_DISCOUNT,
        name_en="10% off",
        point_cost=100,
        discount_percent=Decimal("10"),
    )
    reward_redeem(member_id=card.member_id, reward_id=reward.pk)
    return Voucher.objects.get()


def use(pos, code, key="use-1", receipt="R-1"):
    return pos.post(
        f"/api/v1/vouchers/{code}/redeem/",
        {"receipt_id": receipt},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_checking_a_voucher_shows_what_it_gives_and_whose_it_is(pos, card, voucher):
    body = pos.get(f"/api/v1/vouchers/{voucher.code}/").json()
    assert (body["title"], body["discount_percent"]) == ("10% off", "10.00")
    assert body["status"] == "active"
    assert (body["card"], body["usable"], body["refusal"]) == (card.number, True, None)


def test_a_code_typed_with_dashes_and_lowercase_is_found(pos, voucher):
    typed = voucher.display_code.lower()
    assert "-" in typed
    assert pos.get(f"/api/v1/vouchers/{typed}/").status_code == 200


def test_an_unknown_code_is_not_found(pos, voucher):
    response = pos.get("/api/v1/vouchers/AAAABBBBCCCC/")
    assert response.status_code == 404
    assert response.json()["error"] == "voucher_not_found"


def test_a_voucher_is_used_once(pos, voucher, operator):
    first = use(pos, voucher.code)
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "used"
    second = use(pos, voucher.code, key="use-2", receipt="R-2")
    assert second.status_code == 409
    assert "already used" in second.json()["detail"]
    voucher.refresh_from_db()
    assert (voucher.used_partner, voucher.used_receipt_id) == (operator, "R-1")
    assert pos.get(f"/api/v1/vouchers/{voucher.code}/").json()["usable"] is False


def test_a_retried_use_replays_the_first_answer(pos, voucher):
    first = use(pos, voucher.code)
    again = use(pos, voucher.code)
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_using_needs_an_idempotency_key(pos, voucher):
    response = pos.post(f"/api/v1/vouchers/{voucher.code}/redeem/", {}, format="json")
    assert response.status_code == 400
    assert Voucher.objects.get().status == Voucher.Status.ACTIVE


def test_an_expired_voucher_is_refused(pos, voucher):
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    response = use(pos, voucher.code)
    assert response.status_code == 409
    assert "expired" in response.json()["detail"]


def test_a_blocked_members_voucher_is_refused(pos, voucher, card):
    type(card.member).objects.filter(pk=card.member_id).update(status="blocked")
    assert use(pos, voucher.code).status_code == 409


def test_the_expiry_job_keeps_the_points_by_default(voucher, card):
    later = voucher.valid_until + timedelta(seconds=1)
    assert vouchers_expire_due(now=later) == 1
    voucher.refresh_from_db()
    assert (voucher.status, voucher.points_returned) == (Voucher.Status.EXPIRED, 0)
    assert available_points(card.member) == 50


def test_the_expiry_job_returns_points_when_the_program_says_so(voucher, card):
    program_settings_update(refund_expired_vouchers=True)
    later = voucher.valid_until + timedelta(seconds=1)
    assert vouchers_expire_due(now=later) == 1
    assert vouchers_expire_due(now=later) == 0
    voucher.refresh_from_db()
    assert (voucher.status, voucher.points_returned) == (Voucher.Status.EXPIRED, 100)
    assert available_points(card.member) == 150
    assert Transfer.objects.filter(code=Code.VOUCHER_REFUND, amount=100).count() == 1
    assert not ledger_breaches()


def test_a_used_voucher_never_expires(pos, voucher):
    use(pos, voucher.code)
    assert vouchers_expire_due(now=voucher.valid_until + timedelta(days=1)) == 0


def test_personal_offers_expire_with_nothing_to_return(card, program):
    program_settings_update(refund_expired_vouchers=True)
    offer = personal_offer_issue(
        member=card.member, title="200 off", valid_days=1, discount_amount=Decimal(200)
    )
    vouchers_expire_due(now=offer.valid_until)
    offer.refresh_from_db()
    assert (offer.status, offer.points_returned) == (Voucher.Status.EXPIRED, 0)


def test_the_expiry_job_runs_by_name(voucher, capsys):
    Voucher.objects.update(valid_until=timezone.now() - timedelta(minutes=1))
    call_command("run_job", "expire_vouchers")
    assert "expire_vouchers: 1 vouchers expired" in capsys.readouterr().out
