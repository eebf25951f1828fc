"""Badges are awarded on the event that earns them, once, some with points."""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.answers import purchase_answer
from loyalty.badges import anniversary_badges_award
from loyalty.models import Badge, MemberBadge, Tier, TierLadder
from loyalty.selectors import member_balance
from members.models import Card, Member
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def badge(rule, **fields):
    return Badge.objects.create(rule=rule, name_en=fields.pop("name", rule), **fields)


def buy(card, partner, amount="100", *, items=None, at=None):
    from loyalty.services.purchases import purchase_record

    return purchase_answer(
        purchase_record(
            partner=partner,
            card_number=card.number,
            receipt_id=uuid.uuid4().hex,
            amount=Decimal(amount),
            items=items or [],
            now=at,
        )
    ).body


def holds(member, rule) -> bool:
    return MemberBadge.objects.filter(member=member, badge__rule=rule).exists()


def test_the_first_purchase_badge_comes_once_with_its_points(
    operator, card, program, ledger_consistent
):
    first = badge("first_purchase", name="Welcome", points=25)
    body = buy(card, operator)
    assert body["badges"] == [{"badge": first.pk, "name": "Welcome", "points": 25}]
    assert "badges" not in buy(card, operator)
    assert MemberBadge.objects.get().reference == f"purchase:{body['id']}"
    assert member_balance(card.member)["available"] == 25


def test_the_biggest_receipt_ever_badge_goes_to_whoever_beats_the_record(operator, program):
    record = badge("record_receipt", name="Biggest customer", minimum=Decimal("500"))
    anna, boris = CardFactory(partner=operator), CardFactory(partner=operator)
    buy(anna, operator, "400")  # below the minimum: no record yet
    assert not holds(anna.member, "record_receipt")
    buy(anna, operator, "1000")
    buy(boris, operator, "800")
    assert (holds(anna.member, "record_receipt"), holds(boris.member, "record_receipt")) == (
        True,
        False,
    )
    buy(boris, operator, "1500")
    assert holds(boris.member, "record_receipt")
    buy(anna, operator, "2000")  # the record moves; Anna already holds the badge
    record.refresh_from_db()
    assert record.record == Decimal("2000.00")
    assert MemberBadge.objects.filter(badge=record).count() == 2


def test_the_longest_receipt_badge_counts_item_lines(operator, card, program):
    badge("record_items", minimum=Decimal("3"))
    line = {"sku": "A", "qty": "1", "price": "10"}
    buy(card, operator, items=[line, line])
    assert not holds(card.member, "record_items")
    buy(card, operator, items=[line, line, line])
    assert holds(card.member, "record_items")


def test_n_purchases_in_a_month_counts_the_calendar_month(operator, card, program):
    badge("purchases_in_month", count=3)
    zone = timezone.get_default_timezone()
    october_31 = datetime(2026, 10, 31, 12, tzinfo=zone)
    buy(card, operator, at=october_31)
    buy(card, operator, at=october_31 + timedelta(days=1))
    buy(card, operator, at=october_31 + timedelta(days=2))
    assert not holds(card.member, "purchases_in_month")  # two in November so far
    buy(card, operator, at=october_31 + timedelta(days=3))
    assert holds(card.member, "purchases_in_month")


def test_the_first_referral_badge_comes_when_the_friend_first_buys(
    django_capture_on_commit_callbacks, operator, card, program
):
    badge("first_referral", points=10)
    friend = CardFactory(partner=operator)
    Member.objects.filter(pk=friend.member_id).update(referred_by=card.member)
    with django_capture_on_commit_callbacks(execute=True):
        buy(friend, operator)
    assert holds(card.member, "first_referral")
    assert not holds(friend.member, "first_referral")
    assert member_balance(card.member)["available"] == 10


def test_feedback_earns_its_badge_even_without_a_feedback_bonus(pos, card, program):
    feedback = badge("feedback", name="Thank you")
    response = pos.post(
        EVENTS,
        {"card": card.number, "event": "feedback"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="fb-1",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["badges"] == [{"badge": feedback.pk, "name": "Thank you", "points": 0}]
    again = pos.post(
        EVENTS,
        {"card": card.number, "event": "feedback"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="fb-2",
    )
    assert "badges" not in again.json()


def test_reaching_a_tier_earns_its_badge_after_the_purchase_commits(
    django_capture_on_commit_callbacks, operator, card, program
):
    ladder = TierLadder.objects.create(name="Spend", window="lifetime")
    gold = Tier.objects.create(ladder=ladder, rank=1, name="Gold", min_spend=Decimal("1000"))
    badge("tier_reached", tier=gold, points=5)
    with django_capture_on_commit_callbacks(execute=True):
        buy(card, operator, "500")
    assert not holds(card.member, "tier_reached")
    with django_capture_on_commit_callbacks(execute=True):
        buy(card, operator, "600")
    assert holds(card.member, "tier_reached")


def test_anniversary_badges_go_to_members_n_years_in_once(operator, program, ledger_consistent):
    badge("anniversary", count=3, points=30)
    today = date(2026, 11, 23)
    zone = timezone.get_default_timezone()
    veteran, newcomer, legacy = (CardFactory(partner=operator) for _ in range(3))
    Card.objects.filter(pk=veteran.pk).update(
        issued_at=datetime.combine(date(2023, 11, 23), time(20), tzinfo=zone)
    )
    Card.objects.filter(pk=newcomer.pk).update(
        issued_at=datetime.combine(date(2023, 11, 24), time(9), tzinfo=zone)
    )
    Card.objects.filter(pk=legacy.pk).update(
        issued_at=datetime.combine(date(2019, 5, 1), time(9), tzinfo=zone)
    )
    assert anniversary_badges_award(today) == 2
    assert anniversary_badges_award(today) == 0
    assert holds(veteran.member, "anniversary")
    assert holds(legacy.member, "anniversary")
    assert not holds(newcomer.member, "anniversary")
    assert member_balance(veteran.member)["available"] == 30


def test_a_badge_needs_a_name_and_what_its_rule_needs():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="name"):
        Badge(rule="first_purchase").full_clean()
    with pytest.raises(ValidationError, match="count"):
        Badge(rule="purchases_in_month", name_en="Regular").full_clean()
    with pytest.raises(ValidationError, match="tier"):
        Badge(rule="tier_reached", name_en="Gold").full_clean()


def test_a_leap_day_member_gets_the_anniversary_on_the_day_the_cabinet_promises(operator, program):
    from loyalty.badges import anniversary_on

    badge("anniversary", count=1)
    card = CardFactory(partner=operator)
    zone = timezone.get_default_timezone()
    Card.objects.filter(pk=card.pk).update(
        issued_at=datetime.combine(date(2024, 2, 29), time(10), tzinfo=zone)
    )
    promised = anniversary_on(date(2024, 2, 29), 1)
    assert promised == date(2025, 3, 1)
    assert anniversary_badges_award(promised - timedelta(days=1)) == 0
    assert anniversary_badges_award(promised) == 1
