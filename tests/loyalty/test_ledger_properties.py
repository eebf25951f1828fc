"""Random sequences of ledger operations keep every invariant."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty.adjustments import points_adjust
from loyalty.answers import purchase_answer, refund_answer
from loyalty.exceptions import InsufficientPoints, InvalidRequest
from loyalty.jobs import lots_expire_due, pending_release_due
from loyalty.ledger import ledger_breaches, system_account_cache_clear
from loyalty.models import Account, Purchase
from loyalty.program import program_settings_update
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from tests.factories import CardFactory, PartnerFactory

pytestmark = pytest.mark.django_db

purchase = st.tuples(
    st.just("purchase"),
    st.integers(min_value=1, max_value=500_000),  # amount in cents
    # Points asked to redeem: mostly none, sometimes more than the balance.
    st.one_of(st.just(0), st.just(0), st.integers(min_value=1, max_value=300)),
)
refund = st.tuples(
    st.just("refund"),
    st.integers(min_value=0, max_value=50),  # which purchase
    st.integers(min_value=1, max_value=100),  # percent of what is left
)
release = st.tuples(st.just("release"), st.integers(min_value=0, max_value=30), st.none())
expire = st.tuples(st.just("expire"), st.integers(min_value=0, max_value=400), st.none())
adjust = st.tuples(st.just("adjust"), st.integers(min_value=-500, max_value=500), st.none())
operations = st.lists(st.one_of(purchase, refund, release, expire, adjust), max_size=25)


@dataclass
class Model:
    """What the member should own, tracked from what each operation reports."""

    now: object
    net_points: int = 0
    purchase_ids: list[int] = field(default_factory=list)


def _member_net(member) -> int:
    balances = dict(Account.objects.filter(member=member).values_list("kind", "balance"))
    return balances["available"] + balances["pending"] - balances["debt"]


def _apply(op, card, model: Model) -> None:
    name, value, extra = op
    if name == "purchase":
        try:
            body = purchase_answer(
                purchase_record(
                    partner=card.partner,
                    card_number=card.number,
                    receipt_id=str(uuid.uuid4()),
                    amount=Decimal(value) / 100,
                    redeem_points=extra,
                    now=model.now,
                )
            ).body
        except (InsufficientPoints, InvalidRequest):
            return
        model.net_points += body["points_earned"] - body["points_redeemed"]
        model.purchase_ids.append(body["id"])
    elif name == "refund" and model.purchase_ids:
        bought = Purchase.objects.get(pk=model.purchase_ids[value % len(model.purchase_ids)])
        left = bought.amount - bought.refunded_amount
        amount = (left * extra / 100).quantize(Decimal("0.01"))
        if amount <= 0:
            return
        body = refund_answer(
            refund_record(partner=card.partner, purchase_id=bought.pk, amount=amount)
        ).body
        model.net_points += body["points_returned"] - body["points_reversed"]
    elif name == "release":
        model.now += timedelta(days=value)
        pending_release_due(now=model.now)
    elif name == "expire":
        model.now += timedelta(days=value)
        model.net_points -= lots_expire_due(now=model.now)
    elif name == "adjust" and value:
        try:
            points_adjust(member=card.member, points=value, reason="property test", now=model.now)
        except InsufficientPoints:
            return
        model.net_points += value


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, pending_days=st.sampled_from([0, 14]))
# Always covered: points spent, then their purchase refunded (debt), then small credits.
@example(
    ops=[
        ("purchase", 500_000, 0),
        ("purchase", 10_000, 50),
        ("refund", 0, 100),
        ("purchase", 1_000, 0),
        ("adjust", 3, None),
        ("purchase", 900_000, 0),
    ],
    pending_days=0,
)
def test_random_operations_keep_every_invariant(operator, ops, pending_days):
    # Each example runs in a savepoint that is rolled back, so examples are independent.
    with transaction.atomic():
        system_account_cache_clear()  # ids cached in a rolled-back example are gone
        program_settings_update(pending_days=pending_days, expiry_months=6, max_redeem_share="0.9")
        card = CardFactory(partner=PartnerFactory(code="main"))
        model = Model(now=timezone.now())
        for op in ops:
            _apply(op, card, model)
            breaches = ledger_breaches()
            assert not breaches, f"after {op}: {breaches}"
        assert _member_net(card.member) == model.net_points
        transaction.set_rollback(True)
