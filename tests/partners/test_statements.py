"""Monthly statements: from the ledger, frozen when closed, corrected in the next month."""

import uuid
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.adjustments import points_adjust
from loyalty.ledger import Kind, system_account
from loyalty.models import Transfer
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from partners.models import PartnerRate, Statement
from partners.settlement import partner_period_figures
from partners.statements import (
    StatementNotDue,
    month_bounds,
    partner_statements_settle,
    statement_close,
    statements_close_due,
)
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_default_timezone())


@pytest.fixture
def bank(db):
    bank = PartnerFactory(code="bank", name="Bank")
    PartnerRate.objects.create(
        partner=bank, valid_from=date(2026, 1, 1), issued_price="0.50", redeemed_price="0.40"
    )
    return bank


@pytest.fixture
def card(operator, program):
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=500, reason="start", now=at(date(2026, 1, 2)))
    return card


def buy(partner, card, day, amount, redeem=0):
    return purchase_record(
        partner=partner,
        card_number=card.number,
        receipt_id=uuid.uuid4().hex,
        amount=Decimal(amount),
        redeem_points=redeem,
        now=at(day),
    )


def test_the_job_closes_finished_months_and_keeps_the_current_one_open(bank, card):
    buy(bank, card, date(2026, 2, 10), 3000, redeem=40)
    buy(bank, card, date(2026, 2, 11), 1000)
    buy(bank, card, date(2026, 3, 1), 500)

    assert statements_close_due(now=at(date(2026, 3, 5))) == 1

    february, march = Statement.objects.filter(partner=bank).order_by("month")
    assert (february.month, february.status) == (date(2026, 2, 1), Statement.Status.CLOSED)
    # Points are earned on what was paid in money: 29 + 10.
    assert (february.points_issued, february.points_redeemed) == (39, 40)
    assert february.due_from_partner == Decimal("19.50")  # 39 x 0.50
    assert february.due_to_partner == Decimal("16.00")  # 40 x 0.40
    assert february.net_due_from_partner == Decimal("3.50")
    assert [line.day for line in february.lines.all()] == [date(2026, 2, 10), date(2026, 2, 11)]
    assert (march.status, march.points_issued) == (Statement.Status.OPEN, 5)
    # Running the job again changes nothing that is closed.
    assert statements_close_due(now=at(date(2026, 3, 6))) == 0


def test_a_month_closes_only_after_the_grace_days(bank, card, settings):
    settings.SETTLEMENT_CLOSE_AFTER_DAYS = 3
    buy(bank, card, date(2026, 2, 10), 3000)
    assert partner_statements_settle(bank, now=at(date(2026, 3, 3))) == 0
    assert partner_statements_settle(bank, now=at(date(2026, 3, 4))) == 1


def test_a_month_without_points_gets_a_statement_of_zeros(bank, card):
    buy(bank, card, date(2026, 1, 20), 1000)
    buy(bank, card, date(2026, 3, 20), 1000)
    partner_statements_settle(bank, now=at(date(2026, 4, 10)))
    months = Statement.objects.filter(partner=bank).order_by("month")
    assert [(s.month.month, s.status, s.points_issued) for s in months] == [
        (1, Statement.Status.CLOSED, 10),
        (2, Statement.Status.CLOSED, 0),
        (3, Statement.Status.CLOSED, 10),
        (4, Statement.Status.OPEN, 0),
    ]


def test_an_unfinished_month_or_one_after_an_open_month_cannot_close(bank, card):
    buy(bank, card, date(2026, 2, 10), 1000)
    buy(bank, card, date(2026, 3, 10), 1000)
    partner_statements_settle(bank, now=at(date(2026, 3, 2)))  # creates February and March
    february, march = Statement.objects.filter(partner=bank).order_by("month")

    with pytest.raises(StatementNotDue, match="month is over"):
        statement_close(march, now=at(date(2026, 3, 20)))
    with pytest.raises(StatementNotDue, match="earlier months first"):
        statement_close(march, now=at(date(2026, 4, 20)))
    statement_close(february, now=at(date(2026, 3, 2)))
    assert statement_close(march, now=at(date(2026, 4, 20))).status == Statement.Status.CLOSED


def test_a_late_rate_leaves_the_closed_month_alone_and_corrects_the_next(card):
    cinema = PartnerFactory(code="cinema", name="Cinema")
    buy(cinema, card, date(2026, 2, 10), 2000)  # 20 points, no rate yet
    partner_statements_settle(cinema, now=at(date(2026, 3, 5)))
    february = Statement.objects.get(partner=cinema, month=date(2026, 2, 1))
    assert (february.points_unpriced, february.due_from_partner) == (20, Decimal("0.00"))

    PartnerRate.objects.create(
        partner=cinema, valid_from=date(2026, 2, 1), issued_price="1.00", redeemed_price="1.00"
    )
    buy(cinema, card, date(2026, 3, 10), 500)
    partner_statements_settle(cinema, now=at(date(2026, 4, 5)))

    february.refresh_from_db()
    assert (february.points_unpriced, february.due_from_partner) == (20, Decimal("0.00"))
    march = Statement.objects.get(partner=cinema, month=date(2026, 3, 1))
    own, corrections = (
        march.lines.filter(is_correction=False),
        march.lines.filter(is_correction=True),
    )
    assert [(line.day, line.points_issued, line.due_from_partner) for line in own] == [
        (date(2026, 3, 10), 5, Decimal("5.00"))
    ]
    assert [(line.day, line.points_issued, line.due_from_partner) for line in corrections] == [
        (date(2026, 2, 10), 0, Decimal("20.00"))
    ]
    assert march.due_from_partner == Decimal("25.00")
    # Corrected once: the month after carries nothing more.
    partner_statements_settle(cinema, now=at(date(2026, 5, 5)))
    april = Statement.objects.get(partner=cinema, month=date(2026, 4, 1))
    assert not april.lines.exists()


def test_points_booked_into_a_closed_month_are_corrected_next_month(bank, card):
    buy(bank, card, date(2026, 2, 10), 1000)
    partner_statements_settle(bank, now=at(date(2026, 3, 5)))
    # A transfer dated in February but written after February closed (as a restore would).
    Transfer.objects.create(
        debit_account=system_account(Kind.ISSUED, bank),
        credit_account=system_account(Kind.ADJUSTMENTS),
        amount=7,
        code="adjustment",
        created_at=at(date(2026, 2, 12)),
    )
    partner_statements_settle(bank, now=at(date(2026, 4, 5)))
    march = Statement.objects.get(partner=bank, month=date(2026, 3, 1))
    assert [(line.day, line.points_issued, line.is_correction) for line in march.lines.all()] == [
        (date(2026, 2, 12), 7, True)
    ]
    assert march.due_from_partner == Decimal("3.50")


MONTHS = [date(2026, month, 1) for month in range(1, 5)]

months_of_operations = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 1),  # partner
            st.integers(1, 27),  # day of the month
            st.integers(100, 5000),  # amount
            st.integers(0, 40),  # points to pay with
            st.sampled_from([None, Decimal("0.5"), Decimal("1")]),  # share refunded
        ),
        max_size=4,
    ),
    min_size=len(MONTHS),
    max_size=len(MONTHS),
)
late_rates = st.lists(
    st.tuples(
        st.integers(0, 1),  # partner
        st.integers(0, len(MONTHS) - 1),  # entered after this month closed
        st.integers(0, 3),  # starting this many months earlier
        st.decimals("0.01", "2", places=2),
    ),
    max_size=4,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(months=months_of_operations, rates=late_rates)
def test_statements_reconcile_with_the_ledger_however_late_the_rates(operator, months, rates):
    """Closed statements, corrections included, add up to the ledger priced at today's rates."""
    program_settings_update(pending_days=14, max_redeem_share="1", min_balance_to_redeem=0)
    partners = [PartnerFactory(), PartnerFactory()]
    card = CardFactory(partner=operator)
    points_adjust(member=card.member, points=2000, reason="start", now=at(date(2025, 12, 1)))
    for index, operations in enumerate(months):
        for who, day, amount, redeem, refunded in sorted(operations, key=lambda op: op[1]):
            bought = buy(partners[who], card, MONTHS[index].replace(day=day), amount, redeem)
            if refunded is not None:
                refund_record(
                    partner=partners[who],
                    purchase_id=bought.purchase.pk,
                    amount=Decimal(amount) * refunded,
                    now=at(MONTHS[index].replace(day=day), hour=18),
                )
        closing = at(MONTHS[index].replace(day=28)) + (MONTHS[1] - MONTHS[0])
        for partner in partners:
            partner_statements_settle(partner, now=closing)
        for who, entered_after, months_back, price in rates:
            if entered_after == index:
                PartnerRate.objects.get_or_create(
                    partner=partners[who],
                    valid_from=MONTHS[max(0, index - months_back)].replace(day=1 + months_back),
                    defaults={"issued_price": price, "redeemed_price": price / 2},
                )
    final = at(date(2026, 6, 10))
    for partner in partners:
        partner_statements_settle(partner, now=final)  # May carries the last corrections

    start, end = month_bounds(MONTHS[0])[0], month_bounds(date(2026, 5, 1))[1]
    for partner in partners:
        closed = Statement.objects.filter(partner=partner, status=Statement.Status.CLOSED)
        ledger = partner_period_figures(partner, start, end)
        assert sum(s.points_issued - s.points_reversed for s in closed) == (
            ledger.points_issued - ledger.points_reversed
        )
        assert sum(s.points_redeemed - s.points_returned for s in closed) == (
            ledger.points_redeemed - ledger.points_returned
        )
        assert sum(s.due_from_partner for s in closed) == ledger.due_from_partner
        assert sum(s.due_to_partner for s in closed) == ledger.due_to_partner
