import uuid
from decimal import Decimal

import pytest

from loyalty.answers import purchase_answer
from loyalty.ledger import Kind
from loyalty.models import Account, EventAward, EventBonus
from loyalty.services.purchases import purchase_record
from members.models import Member

pytestmark = pytest.mark.django_db

ISSUE = "/api/v1/cards/issue/"
EVENTS = "/api/v1/events/"


def available(member_id):
    return Account.objects.get(member_id=member_id, kind=Kind.AVAILABLE).balance


def issue(pos, serial_card, phone, **extra):
    return pos.post(ISSUE, {"card": serial_card, "phone": phone, **extra}, format="json")


def buy(card_number, partner, amount="100"):
    return purchase_answer(
        purchase_record(
            partner=partner,
            card_number=card_number,
            receipt_id=str(uuid.uuid4()),
            amount=Decimal(amount),
        )
    ).body


def report(pos, card, event, key=None):
    return pos.post(
        EVENTS,
        {"card": card, "event": event},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def test_a_new_member_gets_the_signup_bonus_once(pos, program, ledger_consistent):
    EventBonus.objects.create(event="signup", points=100)
    body = issue(pos, "2000000000015", "+79120000001").json()
    assert body["balance"]["available"] == 100
    issue(pos, "2000000000022", "+79120000001")  # a second card for the same member
    assert available(body["member"]["id"]) == 100


def test_first_purchase_bonus_comes_with_the_first_purchase_only(
    pos, operator, card, program, ledger_consistent
):
    EventBonus.objects.create(event="first_purchase", points=50)
    first = buy(card.number, operator)
    assert first["bonuses"] == [{"event": "first_purchase", "points": 50}]
    assert "bonuses" not in buy(card.number, operator)
    assert available(card.member_id) == 50


def test_referral_pays_both_sides_after_the_friends_first_purchase(
    django_capture_on_commit_callbacks, pos, operator, card, program, ledger_consistent
):
    EventBonus.objects.create(event="referral", points=30, referrer_points=70)
    code = card.member.referral_code
    friend = issue(pos, "2000000000015", "+79120000002", referral_code=code.lower()).json()
    assert Member.objects.get(pk=friend["member"]["id"]).referred_by_id == card.member_id
    assert available(card.member_id) == 0  # nothing before the friend buys
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        body = buy("2000000000015", operator)
    assert len(callbacks) == 1  # the referrer is paid after the purchase commits
    assert body["bonuses"] == [{"event": "referral", "points": 30}]
    assert available(friend["member"]["id"]) == 30
    assert available(card.member_id) == 70
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        buy("2000000000015", operator)
    assert callbacks == []
    assert available(card.member_id) == 70


def test_self_referral_and_unknown_codes_are_refused(pos, card, program):
    own = issue(pos, "2000000000015", card.member.phone, referral_code=card.member.referral_code)
    assert own.status_code == 400
    assert "referral_code" in own.json()["fields"]
    unknown = issue(pos, "2000000000022", "+79120000003", referral_code="NOSUCH22")
    assert unknown.status_code == 400


def test_feedback_pays_per_report_and_profile_once(pos, card, program, ledger_consistent):
    EventBonus.objects.create(event="feedback", points=10)
    EventBonus.objects.create(event="profile_completed", points=40)
    assert report(pos, card.number, "feedback").json()["points_awarded"] == 10
    assert report(pos, card.number, "feedback").json()["points_awarded"] == 10
    assert report(pos, card.number, "profile_completed").status_code == 201
    again = report(pos, card.number, "profile_completed")
    assert again.status_code == 409
    assert available(card.member_id) == 60
    assert EventAward.objects.filter(member=card.member).count() == 3


def test_a_replayed_event_returns_the_original_answer(pos, card, program):
    EventBonus.objects.create(event="birthday", points=25)
    first = report(pos, card.number, "birthday", key="bday-1")
    replay = report(pos, card.number, "birthday", key="bday-1")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert available(card.member_id) == 25
    assert report(pos, card.number, "birthday").status_code == 409  # once a year


@pytest.mark.parametrize(
    ("event", "status"), [("signup", 400), ("nonsense", 400), ("feedback", 409)]
)
def test_events_that_cannot_be_reported_or_are_not_configured(pos, card, program, event, status):
    assert report(pos, card.number, event).status_code == status
