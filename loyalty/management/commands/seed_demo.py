"""Load a demo program: outlets, staff logins, a few hundred members with history."""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from loyalty.exceptions import LoyaltyError
from loyalty.jobs import lots_expire_due, pending_release_due
from loyalty.models import EarningRule, EventBonus
from loyalty.selectors import earning_rules_cache_clear, event_bonuses_cache_clear
from loyalty.services import program_settings_update, purchase_record, refund_record
from members.ean import ean13_from_serial
from members.models import Card
from members.services import card_issue
from partners.models import Outlet, Partner
from partners.services import api_key_create

LOGINS = [
    # username, password, role
    ("admin", "admin-demo-2026", "administrator (all of the admin)"),
    ("marketer", "marketer-demo-2026", "marketer (program, members, reports)"),
    ("cashier", "cashier-demo-2026", "cashier (till, coming with the till issue)"),
]
FIRST_NAMES = [
    "Anna",
    "Ivan",
    "Olga",
    "Piotr",
    "Maria",
    "Dmitry",
    "Ewa",
    "Sergey",
    "Kasia",
    "Elena",
]
LAST_NAMES = [
    "Ivanova",
    "Petrov",
    "Kowalska",
    "Smirnov",
    "Nowak",
    "Volkova",
    "Sokolov",
    "Wiśniewska",
]
CATEGORIES = {
    "dairy": ["MILK-1L", "KEFIR"],
    "bakery": ["BREAD", "CROISSANT"],
    "coffee": ["BEANS-1KG"],
}


class Command(BaseCommand):
    help = "Seed the demo program (idempotent: reruns only print the logins and a fresh API key)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, members: int, seed: int, **options):
        operator = Partner.objects.get(code="main")
        if not Outlet.objects.filter(partner=operator, code="central").exists():
            self._seed(operator, members, random.Random(seed))
        self._print_logins(operator)

    @transaction.atomic
    def _seed(self, operator: Partner, member_count: int, rng: random.Random) -> None:
        program_settings_update(currency="RUB", point_name="points", pending_days=14)
        outlets = [
            Outlet.objects.create(partner=operator, code=code, name=name, address=address)
            for code, name, address in [
                ("central", "Central store", "1 Main Street"),
                ("north", "North mall", "25 Park Avenue"),
            ]
        ]
        self._staff_users()
        self._mechanics()
        now = timezone.now()
        for serial in range(member_count):
            self._member_with_history(operator, outlets, serial, rng, now)
        for serial in range(member_count, member_count + 50):  # blank cards for the till
            Card.objects.create(number=ean13_from_serial("200", serial), partner=operator)
        pending_release_due(now=now)
        lots_expire_due(now=now)
        self.stdout.write(self.style.SUCCESS(f"Seeded {member_count} members with purchases."))
        call_command("ledger_check", stdout=self.stdout)

    def _mechanics(self) -> None:
        EarningRule.objects.create(
            name="Double points on dairy", action="multiply", value=2, categories="dairy"
        )
        EarningRule.objects.create(
            name="Weekend: 5% back in points", action="percent", value=5, weekdays=[5, 6]
        )
        EarningRule.objects.create(
            name="Big basket bonus", action="add_fixed", value=50, min_amount=5000, priority=1
        )
        EventBonus.objects.bulk_create(
            [
                EventBonus(event="signup", points=100),
                EventBonus(event="first_purchase", points=50),
                EventBonus(event="referral", points=100, referrer_points=200),
                EventBonus(event="feedback", points=20),
                EventBonus(event="birthday", points=300),
            ]
        )
        earning_rules_cache_clear()
        event_bonuses_cache_clear()

    def _staff_users(self) -> None:
        marketers, _ = Group.objects.get_or_create(name="Marketers")
        marketers.permissions.set(
            Permission.objects.filter(
                content_type__app_label__in=["loyalty", "members", "partners"]
            )
        )
        for username, password, _role in LOGINS:
            user = User.objects.create_user(username, f"{username}@example.com", password)
            if username == "admin":
                user.is_staff = user.is_superuser = True
            elif username == "marketer":
                user.is_staff = True
                user.groups.add(marketers)
            user.save()

    def _member_with_history(self, operator, outlets, serial, rng, now) -> None:
        issued_at = now - timedelta(days=rng.randint(1, 400))
        outlet = rng.choice(outlets)
        result = card_issue(
            partner=operator,
            card_number=ean13_from_serial("200", serial),
            phone=f"+7912{serial:07d}",
            full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            outlet=outlet,
            now=issued_at,
        )
        moments = sorted(
            issued_at + timedelta(seconds=rng.randint(0, int((now - issued_at).total_seconds())))
            for _ in range(rng.randint(0, 12))
        )
        for index, moment in enumerate(moments):
            category = rng.choice(list(CATEGORIES))
            amount = Decimal(rng.randint(150, 9000)) + Decimal(rng.randint(0, 99)) / 100
            pending_release_due(now=moment)  # the daily job, as it would have run by then
            try:
                body = purchase_record(
                    partner=operator,
                    outlet=rng.choice(outlets),
                    card_number=result.card.number,
                    receipt_id=f"DEMO-{serial}-{index}",
                    amount=amount,
                    items=[
                        {
                            "sku": rng.choice(CATEGORIES[category]),
                            "category": category,
                            "qty": "1",
                            "price": str(amount),
                        }
                    ],
                    redeem_points=rng.choice([0, 0, 0, 10, 50]),
                    now=moment,
                ).body
            except LoyaltyError:
                continue  # not enough points to redeem: the customer paid in full elsewhere
            if rng.random() < 0.05:
                refund_record(
                    partner=operator, purchase_id=body["id"], amount=amount / 2, now=moment
                )

    def _print_logins(self, operator: Partner) -> None:
        key = api_key_create(partner=operator, outlet=None, name="demo POS")
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo is ready at http://127.0.0.1:8000"))
        self.stdout.write("  Admin:     http://127.0.0.1:8000/admin/")
        self.stdout.write("  API docs:  http://127.0.0.1:8000/api/docs/")
        for username, password, role in LOGINS:
            self.stdout.write(f"  {username:<9} / {password:<20} {role}")
        self.stdout.write(f"  POS API key: {key}")
        self.stdout.write(
            f'  Try: curl -H "Authorization: Api-Key {key}" '
            f"http://127.0.0.1:8000/api/v1/cards/{ean13_from_serial('200', 0)}/balance/"
        )
        self.stdout.write("")
