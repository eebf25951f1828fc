import pytest

from loyalty.adjustments import points_adjust
from loyalty.models import Account
from members.models import Card, Member
from tests.factories import CardFactory, MemberFactory
from tests.sms import texted_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sms_outbox")]

ISSUE = "/api/v1/cards/issue/"
BLANK = "2000000000015"


def test_issuing_a_new_card_creates_card_and_member(pos):
    response = pos.post(
        ISSUE, {"card": BLANK, "phone": "8 (912) 345-67-89", "name": "Anna"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["card"] == BLANK
    assert body["member"]["phone"] == "+79123456789"
    assert body["member"]["full_name"] == "Anna"
    assert body["balance"]["available"] == 0
    card = Card.objects.get(number=BLANK)
    assert card.status == "issued"
    assert card.issued_at is not None
    assert Account.objects.filter(member=card.member).count() == 3


def test_issuing_a_blank_card_to_an_existing_member_waits_for_their_code(pos, operator):
    member = MemberFactory(phone="+79123456789")
    blank = CardFactory(partner=operator, member=None, status="blank")
    response = pos.post(ISSUE, {"card": blank.number, "phone": "+7 912 345 67 89"}, format="json")
    assert response.status_code == 202
    assert response.json()["confirmation"]["sent_to"] == "+7 *** ***-67-89"
    assert "member" not in response.json()
    assert Member.objects.count() == 1
    blank.refresh_from_db()
    assert (blank.status, blank.member_id) == ("blank", None)
    assert member.pk


def test_issuing_again_to_the_same_phone_is_a_safe_retry(pos):
    payload = {"card": BLANK, "phone": "+79123456789"}
    first = pos.post(ISSUE, payload, format="json")
    again = pos.post(ISSUE, payload, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["member"]["id"] == first.json()["member"]["id"]


def test_a_card_held_by_someone_else_is_409(pos, card):
    response = pos.post(ISSUE, {"card": card.number, "phone": "+79990001122"}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"card": "2000000000016", "phone": "+79123456789"}, "card"),
        ({"card": "12345", "phone": "+79123456789"}, "card"),
        ({"card": BLANK, "phone": "not a phone"}, "phone"),
        ({"card": BLANK}, "phone"),
    ],
)
def test_bad_card_or_phone_is_400_with_the_field(pos, payload, field):
    response = pos.post(ISSUE, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_lookup_by_card_and_by_phone_find_the_same_member(pos, card):
    points_adjust(member=card.member, points=42, reason="test")
    by_card = pos.get("/api/v1/members/lookup/", {"card": card.number}).json()
    by_phone = pos.get("/api/v1/members/lookup/", {"phone": card.member.phone}).json()
    assert by_card == by_phone
    assert by_card["balance"]["available"] == 42
    assert by_card["card"] == card.number


def test_lookup_needs_exactly_one_criterion(pos, card):
    assert pos.get("/api/v1/members/lookup/").status_code == 400
    both = {"card": card.number, "phone": card.member.phone}
    assert pos.get("/api/v1/members/lookup/", both).status_code == 400


def test_lookup_of_unknown_and_blocked_cards_answer_alike(pos, operator):
    blocked = CardFactory(partner=operator, status="blocked")
    unknown = pos.get("/api/v1/members/lookup/", {"card": "2000000000008"})
    hidden = pos.get("/api/v1/members/lookup/", {"card": blocked.number})
    assert unknown.status_code == hidden.status_code == 404
    assert unknown.json() == hidden.json()


def test_replacing_a_lost_card_keeps_member_and_balance_once_the_member_confirms(
    pos, card, django_capture_on_commit_callbacks
):
    points_adjust(member=card.member, points=70, reason="test")
    with django_capture_on_commit_callbacks(execute=True):
        response = pos.post(
            f"/api/v1/cards/{card.number}/replace/",
            {"new_card": BLANK, "reason": "lost"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    code = texted_code(card.member.phone)
    confirmed = pos.post(f"/api/v1/cards/{BLANK}/confirm/", {"code": code}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["balance"]["available"] == 70
    assert confirmed.json()["member"]["id"] == card.member_id
    card.refresh_from_db()
    assert card.status == "lost"
    assert card.replaced_by.number == BLANK
    assert pos.get(f"/api/v1/cards/{card.number}/balance/").status_code == 404
    assert pos.get(f"/api/v1/cards/{BLANK}/balance/").json()["available"] == 70


def test_replacing_with_a_card_in_use_is_409(pos, card, operator):
    other = CardFactory(partner=operator)
    response = pos.post(
        f"/api/v1/cards/{card.number}/replace/",
        {"new_card": other.number, "reason": "replaced"},
        format="json",
    )
    assert response.status_code == 409


def test_a_blocked_member_cannot_get_a_new_card(pos):
    member = MemberFactory(phone="+79123456789")
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    response = pos.post(ISSUE, {"card": BLANK, "phone": "+79123456789"}, format="json")
    assert response.status_code == 409
    assert Card.objects.filter(number=BLANK, status="issued").count() == 0
