"""The opt-in leaderboard: ranked by points earned on purchases, net of refunds."""

import uuid
from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from loyalty.answers import purchase_answer
from loyalty.leaderboard import leaderboard_board, leaderboard_join, leaderboard_refresh
from loyalty.models import LeaderboardEntry, MemberActivity
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from members.models import Member
from tests.factories import CardFactory

pytestmark = pytest.mark.django_db

ZONE = timezone.get_default_timezone()
OCT_20 = datetime(2026, 10, 20, 12, tzinfo=ZONE)
NOV_5 = datetime(2026, 11, 5, 12, tzinfo=ZONE)
NOV_20 = datetime(2026, 11, 20, 12, tzinfo=ZONE)


def buy(card, partner, amount, at):
    return purchase_answer(
        purchase_record(
            partner=partner,
            card_number=card.number,
            receipt_id=uuid.uuid4().hex,
            amount=Decimal(amount),
            now=at,
        )
    ).body


def member_on_board(operator, name, purchases):
    card = CardFactory(partner=operator, member__full_name=f"Real {name}")
    if name:
        leaderboard_join(card.member, name)
    for amount, at in purchases:
        buy(card, operator, amount, at)
    return Member.objects.get(pk=card.member_id)


def test_points_earned_and_refunded_are_counted_on_the_purchase_day(operator, card, program):
    bought = buy(card, operator, "1000", NOV_5)
    refund_record(partner=operator, purchase_id=bought["id"], amount=Decimal("500"), now=NOV_20)
    activity = MemberActivity.objects.get(member=card.member)
    assert (activity.day, activity.points) == (NOV_5.date(), 5)  # 10 earned, 5 reversed


def test_members_are_ranked_per_month_and_all_time_and_only_if_they_opted_in(operator, program):
    anna = member_on_board(operator, "Anna K.", [("3000", NOV_5)])
    boris = member_on_board(operator, "Boris", [("1000", NOV_5), ("9000", OCT_20)])
    clara = member_on_board(operator, "Clara", [("3000", NOV_20)])
    member_on_board(operator, "", [("50000", NOV_5)])  # bought the most, never opted in

    leaderboard_refresh(NOV_20)

    month = leaderboard_board(LeaderboardEntry.Board.MONTH, anna)
    assert [(p.rank, p.name, p.points, p.is_me) for p in month.top] == [
        (1, "Anna K.", 30, True),
        (1, "Clara", 30, False),  # a tie shares the rank
        (3, "Boris", 10, False),
    ]
    all_time = leaderboard_board(LeaderboardEntry.Board.ALL_TIME, boris)
    first = all_time.top[0]
    assert (first.name, first.points) == ("Boris", 100)
    assert all_time.me.rank == 1
    assert clara.leaderboard_name == "Clara"


def test_the_members_own_place_is_shown_outside_the_top(operator, program):
    for index in range(12):
        member_on_board(operator, f"Top {index}", [(str(2000 + index * 100), NOV_5)])
    me = member_on_board(operator, "Me", [("100", NOV_5)])
    leaderboard_refresh(NOV_20)
    board = leaderboard_board(LeaderboardEntry.Board.MONTH, me)
    assert len(board.top) == 10
    assert "Me" not in [place.name for place in board.top]
    assert (board.me.rank, board.me.points) == (13, 1)


def test_leaving_takes_the_member_off_at_once(client, operator, program):
    me = member_on_board(operator, "Me", [("1000", NOV_5)])
    user = User.objects.create_user("me", password="pw-test-only")
    Member.objects.filter(pk=me.pk).update(user=user)
    leaderboard_refresh(NOV_20)
    client.force_login(user)
    assert "Me (you)" in client.get(reverse("cabinet-leaderboard")).content.decode()

    client.post(reverse("cabinet-leaderboard"), {"action": "leave"})
    assert not LeaderboardEntry.objects.filter(member=me).exists()
    assert not Member.objects.get(pk=me.pk).leaderboard_opt_in


def test_the_page_shows_chosen_names_only_and_joining_needs_a_name(client, operator, program):
    member_on_board(operator, "Anna K.", [("3000", NOV_5)])
    leaderboard_refresh(NOV_20)
    user = User.objects.create_user("new", password="pw-test-only")
    mine = CardFactory(partner=operator)
    Member.objects.filter(pk=mine.member_id).update(user=user)
    client.force_login(user)

    page = client.get(reverse("cabinet-leaderboard")).content.decode()
    assert "Anna K." in page
    assert "Real Anna K." not in page  # the real name never shows
    refused = client.post(reverse("cabinet-leaderboard"), {"action": "join", "name": "   "})
    assert "Choose the name others will see." in refused.content.decode()
    too_long = client.post(reverse("cabinet-leaderboard"), {"action": "join", "name": "x" * 31})
    assert "30 characters at most" in too_long.content.decode()
    client.post(reverse("cabinet-leaderboard"), {"action": "join", "name": "  New   Star "})
    member = Member.objects.get(pk=mine.member_id)
    assert (member.leaderboard_opt_in, member.leaderboard_name) == (True, "New Star")


def test_the_backfill_counts_purchases_recorded_before_the_counter(operator, card, program):
    from importlib import import_module

    from django.apps import apps
    from django.db import connection

    bought = buy(card, operator, "2000", NOV_5)
    refund_record(partner=operator, purchase_id=bought["id"], amount=Decimal("500"), now=NOV_5)
    MemberActivity.objects.update(points=0)  # as before the migration
    migration = import_module("loyalty.migrations.0015_leaderboard")
    with connection.schema_editor() as editor:
        migration.activity_points_backfill(apps, editor)
    assert MemberActivity.objects.get(member=card.member).points == 15
