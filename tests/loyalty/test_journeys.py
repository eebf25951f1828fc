"""Journeys: steps fire on their day, once, to the treated group only."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.utils import timezone

from loyalty.adjustments import points_adjust
from loyalty.journeys.entering import is_control, journeys_enter_scheduled
from loyalty.journeys.steps import journeys_run
from loyalty.models import (
    Badge,
    Journey,
    JourneyEntry,
    JourneyMessage,
    JourneyStep,
    MemberBadge,
)
from loyalty.services.purchases import purchase_record
from members.ean import ean13_from_serial
from members.models import Card, Member
from members.services import card_issue
from rewards.models import Voucher
from tests.balances import available_points
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ZONE = timezone.get_default_timezone()
ISSUED = datetime(2026, 9, 1, 10, tzinfo=ZONE)


def day(n: int, hour: int = 12) -> datetime:
    return ISSUED.replace(hour=hour) + timedelta(days=n)


@pytest.fixture
def onboarding(db):
    journey = Journey.objects.create(
        name="Onboarding", trigger="card_issued", control_share=Decimal("0")
    )
    JourneyStep.objects.create(
        journey=journey,
        position=1,
        delay_days=14,
        action="email",
        subject_en="How do you like {product}?",
        text_en="Hello {name}, thank you for buying {product}.",
        subject_ru="Как вам {product}?",
        text_ru="Здравствуйте, {name}! Спасибо за покупку: {product}.",
        link="/rewards/",
    )
    JourneyStep.objects.create(
        journey=journey,
        position=2,
        delay_days=21,
        condition="not_registered",
        action="offer",
        subject_en="Welcome offer",
        offer_percent=Decimal("15"),
        offer_days=14,
    )
    JourneyStep.objects.create(
        journey=journey,
        position=3,
        delay_days=28,
        action="email",
        subject_en="Our program",
        text_en="You have {points} points. Collect badges on your roadmap.",
        link="https://shop.example/club?from=mail",
    )
    return journey


def issue(operator, serial: int, **member_fields) -> Member:
    blank = Card.objects.create(number=ean13_from_serial("200", 900 + serial), partner=operator)
    result = card_issue(
        partner=operator,
        card_number=blank.number,
        phone=f"+7912555{serial:04d}",
        full_name="Anna Petrova",
        now=ISSUED,
    )
    Member.objects.filter(pk=result.member.pk).update(
        email="anna@example.com", consent_email=True, **member_fields
    )
    purchase_record(
        partner=operator,
        card_number=blank.number,
        receipt_id=f"R{serial}",
        amount=Decimal("1200"),
        items=[{"sku": "CHEESE-1", "name": "Gouda", "qty": "1", "price": "1200"}],
        now=day(1),
    )
    return Member.objects.get(pk=result.member.pk)


def test_the_onboarding_steps_fire_on_their_days_and_never_twice(operator, program, onboarding):
    member = issue(operator, 1)
    entry = JourneyEntry.objects.get(member=member)
    assert (entry.entered_at, entry.next_due_at) == (ISSUED, ISSUED + timedelta(days=14))

    journeys_run(day(13))
    assert mail.outbox == []
    journeys_run(day(14))
    journeys_run(day(14, hour=18))  # a second tick the same day
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.subject == "How do you like Gouda?"
    assert "Hello Anna, thank you for buying Gouda." in email.body
    assert "/unsubscribe/" in email.extra_headers["List-Unsubscribe"]
    html = email.alternatives[0][0]
    assert "/open.gif" in html

    journeys_run(day(21))
    offer = Voucher.objects.get(member=member)
    assert (offer.title, offer.discount_percent) == ("Welcome offer", Decimal("15.00"))

    journeys_run(day(40))
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "Our program"
    entry.refresh_from_db()
    assert (entry.next_due_at, entry.finished_at) == (None, day(40))
    assert JourneyMessage.objects.filter(entry=entry).count() == 3


def test_a_step_with_a_condition_is_skipped_when_it_does_not_hold(
    operator, program, onboarding, django_user_model
):
    user = django_user_model.objects.create_user("anna")
    member = issue(operator, 2)
    Member.objects.filter(pk=member.pk).update(user=user)
    journeys_run(day(22))
    assert not Voucher.objects.filter(member=member).exists()
    skipped = JourneyMessage.objects.get(step__action="offer")
    assert (skipped.status, skipped.detail) == ("skipped", "condition: already registered")


def test_messages_respect_the_channels_consent(operator, program, onboarding):
    member = issue(operator, 3)
    Member.objects.filter(pk=member.pk).update(consent_email=False)
    journeys_run(day(14))
    assert mail.outbox == []
    assert JourneyMessage.objects.get().detail == "no consent for this channel"


def test_the_member_reads_messages_in_their_language(operator, program, onboarding):
    issue(operator, 4, language="ru")
    journeys_run(day(14))
    assert mail.outbox[0].subject == "Как вам Gouda?"


def test_a_message_claimed_by_a_worker_that_died_is_never_sent_again(operator, program, onboarding):
    member = issue(operator, 5)
    entry = JourneyEntry.objects.get(member=member)
    step = onboarding.steps.get(position=1)
    # The worker claimed the message, then died before sending or moving the entry on.
    JourneyMessage.objects.create(
        entry=entry, step=step, status="sending", token="t-dead", created_at=day(14)
    )
    journeys_run(day(14))
    assert mail.outbox == []
    assert JourneyMessage.objects.filter(entry=entry, step=step).count() == 1
    entry.refresh_from_db()
    assert entry.next_position == 1  # moved on all the same


def test_control_members_receive_nothing(operator, program, onboarding):
    Journey.objects.filter(pk=onboarding.pk).update(control_share=Decimal("0.5"))
    members = [issue(operator, serial) for serial in range(10, 30)]
    journeys_run(day(40))
    entries = JourneyEntry.objects.filter(journey=onboarding)
    control = {e.member_id for e in entries if e.is_control}
    treated = {e.member_id for e in entries if not e.is_control}
    assert control
    assert treated
    assert not JourneyMessage.objects.filter(entry__member_id__in=control).exists()
    assert not Voucher.objects.filter(member_id__in=control).exists()
    assert len(mail.outbox) == 2 * len(treated)
    # The group is a property of journey and member: the same when asked again.
    assert all(
        is_control(onboarding.pk, m.pk, Decimal("0.5")) == (m.pk in control) for m in members
    )


def test_a_click_is_counted_and_lands_on_the_link_with_utm_tags(
    client, operator, program, onboarding
):
    issue(operator, 6)
    journeys_run(day(40))
    link = re.search(r"http://\S+/j/(\S+)/", mail.outbox[1].body)
    response = client.get(f"/j/{link.group(1)}/")
    target = urlsplit(response.url)
    assert (target.netloc, target.path) == ("shop.example", "/club")
    query = parse_qs(target.query)
    assert query["from"] == ["mail"]
    assert (query["utm_source"], query["utm_medium"]) == (["loyalty"], ["email"])
    assert query["utm_campaign"] == [f"journey-{onboarding.pk}"]
    message = JourneyMessage.objects.get(token=link.group(1))
    assert message.clicked_at is not None
    assert message.opened_at is not None
    assert client.get("/j/unknown-token/").status_code == 404


def test_the_open_pixel_records_the_open(client, operator, program, onboarding):
    issue(operator, 7)
    journeys_run(day(14))
    token = re.search(r"/j/([^/]+)/open.gif", mail.outbox[0].alternatives[0][0]).group(1)
    response = client.get(f"/j/{token}/open.gif")
    assert response["Content-Type"] == "image/gif"
    assert JourneyMessage.objects.get(token=token).opened_at is not None


def test_the_unsubscribe_link_withdraws_the_email_consent(client, operator, program, onboarding):
    member = issue(operator, 8)
    journeys_run(day(14))
    url = re.search(r"http://[^/]+(/unsubscribe/\S+/)", mail.outbox[0].body).group(1)
    assert "Stop receiving" in client.get(url).content.decode()
    assert Member.objects.get(pk=member.pk).consent_email
    assert "You are unsubscribed" in client.post(url).content.decode()
    assert not Member.objects.get(pk=member.pk).consent_email
    assert client.get("/unsubscribe/forged/").status_code == 404


def test_points_and_badge_steps_happen_once(operator, program):
    journey = Journey.objects.create(name="Thanks", trigger="first_purchase", control_share=0)
    badge = Badge.objects.create(rule="feedback", name_en="Newcomer")
    JourneyStep.objects.create(
        journey=journey, position=1, delay_days=3, action="points", points=40
    )
    JourneyStep.objects.create(
        journey=journey, position=2, delay_days=3, action="badge", badge=badge
    )
    card = CardFactory(partner=operator)
    purchase_record(
        partner=operator, card_number=card.number, receipt_id="F1", amount=100, now=day(0)
    )
    purchase_record(
        partner=operator, card_number=card.number, receipt_id="F2", amount=100, now=day(1)
    )
    assert JourneyEntry.objects.get(journey=journey).entered_at == day(0)
    journeys_run(day(3))
    journeys_run(day(4))
    assert available_points(card.member) == 40
    assert MemberBadge.objects.filter(member=card.member, badge=badge).count() == 1


def test_the_daily_scan_finds_members_not_registered_inactive_expiring_or_with_a_birthday(
    operator, program
):
    now = datetime(2026, 11, 23, 6, tzinfo=ZONE)
    journeys = {
        trigger: Journey.objects.create(
            name=trigger, trigger=trigger, trigger_days=days, control_share=0
        )
        for trigger, days in [
            ("not_registered", 30),
            ("inactive", 60),
            ("points_expiring", 14),
            ("birthday", None),
        ]
    }
    unregistered = CardFactory(partner=operator)
    Card.objects.filter(pk=unregistered.pk).update(issued_at=now - timedelta(days=31))
    sleeper = CardFactory(partner=operator)
    purchase_record(
        partner=operator,
        card_number=sleeper.number,
        receipt_id="S1",
        amount=100,
        now=now - timedelta(days=62),
    )
    expiring = CardFactory(partner=operator)
    points_adjust(member=expiring.member, points=50, reason="old", now=now - timedelta(days=355))
    birthday = CardFactory(partner=operator)
    Member.objects.filter(pk=birthday.member_id).update(birth_date=date(1990, 11, 23))

    assert journeys_enter_scheduled(now) >= 4
    assert journeys_enter_scheduled(now) == 0  # entered once

    def entered(trigger):
        return set(
            JourneyEntry.objects.filter(journey=journeys[trigger]).values_list(
                "member_id", flat=True
            )
        )

    assert unregistered.member_id in entered("not_registered")
    assert sleeper.member_id in entered("inactive")
    assert expiring.member_id in entered("points_expiring")
    assert entered("birthday") == {birthday.member_id}
    assert JourneyEntry.objects.get(journey=journeys["birthday"]).key == "2026"


def test_texts_and_pushes_go_through_their_backends_with_consent(
    operator, program, settings, monkeypatch, django_user_model
):
    from tests import sms

    settings.SMS_BACKEND = "tests.sms.outbox_send"
    pushed = []
    monkeypatch.setattr(
        "loyalty.journeys.messages.push_console_send",
        lambda member, title, text, link: pushed.append((member.pk, title, text, link)),
    )
    journey = Journey.objects.create(name="Nudge", trigger="card_issued", control_share=0)
    JourneyStep.objects.create(
        journey=journey, position=1, delay_days=1, action="sms", text_en="{name}, see {cabinet_url}"
    )
    JourneyStep.objects.create(
        journey=journey,
        position=2,
        delay_days=1,
        action="push",
        subject_en="Hi",
        text_en="Points: {points}",
        link="/roadmap/",
    )
    texted = issue(operator, 40)
    Member.objects.filter(pk=texted.pk).update(consent_sms=True)
    pushed_to = issue(operator, 41)
    Member.objects.filter(pk=pushed_to.pk).update(
        consent_push=True, user=django_user_model.objects.create_user("app-user")
    )
    journeys_run(day(1))
    assert sms.outbox[-1] == (texted.phone, "Anna, see http://127.0.0.1:8000/")
    assert len(pushed) == 1
    member_id, title, text, link = pushed[0]
    assert (member_id, title) == (pushed_to.pk, "Hi")
    assert text.startswith("Points: ")
    assert "/j/" in link
    reasons = set(JourneyMessage.objects.filter(status="skipped").values_list("detail", flat=True))
    assert reasons == {
        "no consent for this channel"
    }  # the text to the app user, the push to the other
