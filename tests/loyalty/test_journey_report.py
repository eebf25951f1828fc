"""The journey report recovers a known effect of the journey within its interval."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.journeys.entering import journeys_enter
from loyalty.journeys.report import Moments, difference, journey_report
from loyalty.models import Journey, JourneyEntry, JourneyStep, Purchase
from members.models import Card
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ENTERED = datetime(2026, 9, 1, 10, tzinfo=timezone.get_default_timezone())
# The effect built into the data: treated members buy more often and spend more.
BUY_CHANCE = {"control": 0.6, "treated": 0.8}
SECOND_PURCHASE_CHANCE = {"control": 0.1, "treated": 0.3}
EXTRA_SPEND = {"control": Decimal("0"), "treated": Decimal("200")}


def seed(operator, journey, members: int, rng: random.Random) -> None:
    cards = [CardFactory(partner=operator) for _ in range(members)]
    journeys_enter("card_issued", [card.member_id for card in cards], now=ENTERED)
    # The hash of journey and member ids decides the groups, and ids depend on what ran
    # before: a fixed split (every other card) keeps the dataset the same on every run.
    control = {card.member_id for card in cards[::2]}
    JourneyEntry.objects.filter(journey=journey).update(is_control=False)
    JourneyEntry.objects.filter(journey=journey, member_id__in=control).update(is_control=True)
    purchases = []
    for card in cards:
        group = "control" if card.member_id in control else "treated"
        if rng.random() >= BUY_CHANCE[group]:
            continue
        count = 2 if rng.random() < SECOND_PURCHASE_CHANCE[group] else 1
        for index in range(count):
            amount = max(Decimal("50"), Decimal(round(rng.gauss(1000, 300)))) + EXTRA_SPEND[group]
            purchases.append(
                _purchase(card, f"{card.pk}-{index}", amount, ENTERED + timedelta(days=3 + index))
            )
    # Outside the 30-day window: never counted.
    purchases.append(_purchase(cards[0], "late", Decimal("99999"), ENTERED + timedelta(days=45)))
    Purchase.objects.bulk_create(purchases)


def _purchase(card: Card, receipt: str, amount: Decimal, at: datetime) -> Purchase:
    return Purchase(
        partner=card.partner,
        card=card,
        member_id=card.member_id,
        receipt_id=receipt,
        amount=amount,
        fingerprint="seed",
        created_at=at,
    )


def test_the_report_recovers_the_effect_built_into_the_data(operator, program):
    journey = Journey.objects.create(
        name="Onboarding", trigger="card_issued", control_share=Decimal("0.5"), measure_days=30
    )
    JourneyStep.objects.create(journey=journey, delay_days=14, action="email", text_en="Hi")
    seed(operator, journey, 600, random.Random(20261123))

    report = journey_report(journey)

    assert report.treated.members + report.control.members == 600
    assert report.control.members > 200  # about half held out
    assert report.conversion.low <= 0.2 <= report.conversion.high
    assert report.conversion.significant
    assert report.frequency.low <= 0.36 <= report.frequency.high  # 0.8 x 1.3 - 0.6 x 1.1
    assert report.revenue.significant
    # Revenue per member: 0.8 x 1.3 x 1200 - 0.6 x 1.1 x 1000 = 588.
    assert report.revenue.low <= 588 <= report.revenue.high


def test_without_an_effect_the_interval_straddles_zero():
    rng = random.Random(5)
    treated, control = Moments(), Moments()
    for _ in range(500):
        treated.add(rng.gauss(100, 30))
        control.add(rng.gauss(100, 30))
    interval = difference(treated, control)
    assert interval.low < 0 < interval.high
    assert not interval.significant


def test_too_few_members_give_no_interval():
    one = Moments()
    one.add(5)
    assert difference(one, one) is None


def test_the_admin_shows_the_report(admin_client, operator, program):
    journey = Journey.objects.create(
        name="Onboarding", trigger="card_issued", control_share=Decimal("0.5")
    )
    JourneyStep.objects.create(journey=journey, delay_days=14, action="email", text_en="Hi")
    seed(operator, journey, 60, random.Random(1))
    page = admin_client.get(f"/admin/loyalty/journey/{journey.pk}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Journey report: Onboarding" in html
    assert "Revenue per member" in html
    assert " … " in html  # an interval is drawn
    change = admin_client.get(f"/admin/loyalty/journey/{journey.pk}/change/")
    assert change.status_code == 200


def test_the_report_exports(admin_client, operator, program):
    journey = Journey.objects.create(
        name="Onboarding", trigger="card_issued", control_share=Decimal("0.5")
    )
    seed(operator, journey, 40, random.Random(2))
    url = f"/admin/loyalty/journey/{journey.pk}/report/"
    csv = admin_client.get(url, {"export": "csv"})
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "Figure,Treated,Control,Difference,Interval (95 percent)"
    assert lines[1].startswith("Members,")
    assert sum(int(n) for n in lines[1].split(",")[1:3]) == 40
    xlsx = admin_client.get(url, {"export": "xlsx"})
    assert xlsx["Content-Disposition"].endswith(f'journey-{journey.pk}-report.xlsx"')
