"""Races against real PostgreSQL: threads with their own connections, committed data."""

import itertools
from decimal import Decimal

import pytest

from loyalty.adjustments import points_adjust
from loyalty.ledger import Kind, ledger_breaches
from loyalty.models import (
    Account,
    ClubMembership,
    ClubPlan,
    EarningRule,
    Hold,
    IdempotencyRecord,
    MemberActivity,
    MemberTier,
    Purchase,
    RuleUsage,
    Tier,
    TierChange,
    TierLadder,
    Transfer,
)
from loyalty.program import program_settings_update
from loyalty.tier_moves import tiers_recalculate_all
from partners.services import api_key_create
from tests.factories import CardFactory, PartnerFactory
from tests.schema_check import APIClient
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def _client(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


@pytest.fixture
def setup():
    operator = PartnerFactory(code="main")
    program_settings_update(pending_days=14, max_redeem_share="1", min_balance_to_redeem=0)
    card = CardFactory(partner=operator)
    return card, api_key_create(partner=operator)


def test_fifty_concurrent_redemptions_only_ten_fit_the_balance(setup):
    card, raw_key = setup
    points_adjust(member=card.member, points=100, reason="balance for 10 redemptions")

    def redeem(i):
        response = _client(raw_key).post(
            "/api/v1/purchases/",
            {"card": card.number, "receipt_id": f"R-{i}", "amount": "10.00", "redeem_points": 10},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"redeem-{i}",
        )
        return response.status_code

    statuses = run_together(50, redeem)
    assert statuses.count(201) == 10
    assert statuses.count(409) == 40
    assert Account.objects.get(member=card.member, kind=Kind.AVAILABLE).balance == 0
    assert Purchase.objects.count() == 10
    assert not ledger_breaches()


def test_one_idempotency_key_sent_twenty_times_is_one_purchase(setup):
    card, raw_key = setup
    body = {"card": card.number, "receipt_id": "R-1", "amount": "2500.00"}

    def send(_i):
        response = _client(raw_key).post(
            "/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY="the-key"
        )
        return response.status_code, response.json()

    concurrent = run_together(10, send)
    sequential = [send(i) for i in range(10)]
    responses = concurrent + sequential
    assert {status for status, _ in responses} == {201}
    assert all(body == responses[0][1] for _, body in responses)
    assert Purchase.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert Account.objects.get(member=card.member, kind=Kind.PENDING).balance == 25
    assert not ledger_breaches()


def test_same_receipt_under_different_keys_concurrently_is_one_purchase(setup):
    card, raw_key = setup
    body = {"card": card.number, "receipt_id": "R-1", "amount": "700.00"}

    def send(i):
        return (
            _client(raw_key)
            .post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{i}")
            .status_code
        )

    statuses = run_together(10, send)
    assert sorted(statuses) == [200] * 9 + [201]
    assert Purchase.objects.count() == 1
    assert not ledger_breaches()


def test_concurrent_refunds_never_exceed_the_purchase(setup):
    card, raw_key = setup
    purchase_id = (
        _client(raw_key)
        .post(
            "/api/v1/purchases/",
            {"card": card.number, "receipt_id": "R-1", "amount": "1000.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="p",
        )
        .json()["id"]
    )

    def refund(i):
        return (
            _client(raw_key)
            .post(
                f"/api/v1/purchases/{purchase_id}/refunds/",
                {"amount": "300.00"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"r-{i}",
            )
            .status_code
        )

    statuses = run_together(8, refund)
    assert statuses.count(201) == 3
    assert statuses.count(400) == 5
    assert Purchase.objects.get().refunded_amount == 900
    assert not ledger_breaches()


def test_concurrent_card_issues_for_one_new_phone_create_one_member(setup):
    _card, raw_key = setup
    from members.ean import ean13_from_serial
    from members.models import Member

    def issue(i):
        return (
            _client(raw_key)
            .post(
                "/api/v1/cards/issue/",
                {"card": ean13_from_serial("200", 500 + i), "phone": "+79001112233"},
                format="json",
            )
            .status_code
        )

    statuses = run_together(8, issue)
    # One creates the member; the others add a card to an existing member, which waits for
    # the member's code (202), five codes an hour at most (409 beyond).
    assert statuses.count(201) == 1
    assert statuses.count(202) == 5
    assert statuses.count(409) == 2
    assert Member.objects.filter(phone="+79001112233").count() == 1


def _lifetime_ladder(min_spend):
    ladder = TierLadder.objects.create(name="Discount", window="lifetime")
    return Tier.objects.create(ladder=ladder, name="5%", rank=1, min_spend=min_spend)


def test_concurrent_receipts_of_one_member_qualify_once_and_cap_once(setup):
    card, raw_key = setup
    tier = _lifetime_ladder(min_spend=1000)
    EarningRule.objects.create(
        name="Capped", action="add_fixed", value=30, cap_per_member=100, cap_period="ever"
    )

    def buy(i):
        return (
            _client(raw_key)
            .post(
                "/api/v1/purchases/",
                {"card": card.number, "receipt_id": f"T-{i}", "amount": "300.00"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"tier-{i}",
            )
            .status_code
        )

    assert run_together(10, buy) == [201] * 10
    assert MemberActivity.objects.get(member=card.member).spend == Decimal("3000.00")
    assert MemberTier.objects.get(member=card.member).tier == tier
    assert TierChange.objects.filter(member=card.member).count() == 1
    assert RuleUsage.objects.get(member=card.member).points == 100
    extra = sum(
        r["points"]
        for applied in Purchase.objects.values_list("applied_rules", flat=True)
        for r in applied
        if r["rule"] != "base"
    )
    assert extra == 100


def test_two_tier_sweeps_at_once_move_each_member_once(setup):
    card, _raw_key = setup
    _lifetime_ladder(min_spend=1000)
    holders = [CardFactory(partner=card.partner).member for _ in range(30)]
    tier = Tier.objects.get()
    for member in holders:
        MemberTier.objects.create(member=member, ladder=tier.ladder, tier=tier)
    moved = run_together(2, lambda _i: tiers_recalculate_all(batch_size=7))
    assert sum(moved) == 30
    assert not MemberTier.objects.exists()
    assert TierChange.objects.filter(reason="downgraded").count() == 30


def test_concurrent_club_renewals_chain_without_overlap(setup):
    card, raw_key = setup
    ladder = TierLadder.objects.create(name="Club", window="club")
    tier = Tier.objects.create(ladder=ladder, name="Member", rank=1)
    plan = ClubPlan.objects.create(name="Monthly", tier=tier, fee=299, validity_days=30)

    def join(i):
        return (
            _client(raw_key)
            .post(
                "/api/v1/club/memberships/",
                {"card": card.number, "plan": plan.pk},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"join-{i}",
            )
            .status_code
        )

    assert run_together(8, join) == [201] * 8
    periods = list(ClubMembership.objects.order_by("starts_at").values_list("starts_at", "ends_at"))
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(periods))
    assert MemberTier.objects.get(member=card.member).valid_until == periods[-1][1]


def test_a_hundred_captures_and_voids_at_once_resolve_a_hold_once(setup):
    card, raw_key = setup
    points_adjust(member=card.member, points=100, reason="balance")
    created = _client(raw_key).post(
        "/api/v1/holds/",
        {"card": card.number, "points": 60},
        format="json",
        HTTP_IDEMPOTENCY_KEY="hold-1",
    )
    hold_id = created.json()["id"]

    def resolve(i):
        action = "capture" if i % 2 else "void"
        response = _client(raw_key).post(f"/api/v1/holds/{hold_id}/{action}/")
        return action, response.status_code, response.json().get("status")

    answers = run_together(100, resolve, threads=40)
    hold = Hold.objects.get()
    winner = "capture" if hold.status == "captured" else "void"
    # Every call of the winning kind says so; every call of the other kind is refused.
    assert {(action, code) for action, code, _status in answers} == {
        (winner, 200),
        ("void" if winner == "capture" else "capture", 409),
    }
    expected = 40 if hold.status == "captured" else 100
    assert Account.objects.get(member=card.member, kind=Kind.AVAILABLE).balance == expected
    assert Transfer.objects.filter(code__in=["partner_burn", "partner_hold_release"]).count() == 1
    assert not ledger_breaches()


def test_twenty_first_purchases_of_an_imported_member_at_once(setup, tmp_path):
    """An imported member has its three accounts from the import: purchases at once lock
    them in order, and each is counted."""
    from members.imports.runner import cards_import
    from members.models import Card

    _card, raw_key = setup
    path = tmp_path / "cards.csv"
    path.write_text("card_number,balance\n7770000000012,100\n")
    cards_import(path)
    imported = Card.objects.get(number="7770000000012").member

    def buy(i):
        response = _client(raw_key).post(
            "/api/v1/purchases/",
            {"card": "7770000000012", "receipt_id": f"R-{i}", "amount": "400.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"buy-{i}",
        )
        return response.status_code

    assert run_together(20, buy) == [201] * 20
    accounts = list(Account.objects.filter(member=imported).order_by("id"))
    assert [account.kind for account in accounts] == [Kind.AVAILABLE, Kind.PENDING, Kind.DEBT]
    assert accounts[1].balance == 20 * 4  # pending: one point per 100 spent
    assert not ledger_breaches()
