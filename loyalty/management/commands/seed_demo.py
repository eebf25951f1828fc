"""Load a demo program: outlets, staff logins, a few hundred members with history."""

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Count
from django.test.utils import override_settings
from django.utils import timezone

from loyalty.badges import anniversary_badges_award, badges_cache_clear
from loyalty.club import club_join
from loyalty.exceptions import LoyaltyError
from loyalty.jobs import lots_expire_due, pending_release_due
from loyalty.journeys.entering import journeys_cache_clear
from loyalty.journeys.steps import journeys_run
from loyalty.leaderboard import leaderboard_join, leaderboard_refresh
from loyalty.ledger import Kind
from loyalty.models import (
    Account,
    Badge,
    ClubPlan,
    EarningRule,
    EventBonus,
    Journey,
    JourneyMessage,
    JourneyStep,
    Purchase,
    Tier,
    TierLadder,
)
from loyalty.program import program_settings_update
from loyalty.reports import cohorts_refresh, daily_figures_backfill
from loyalty.selectors import earning_rules_cache_clear, event_bonuses_cache_clear
from loyalty.services.purchases import purchase_record
from loyalty.services.refunds import refund_record
from loyalty.tier_moves import tiers_recalculate_all
from loyalty.tiers import tier_snapshot_cache_clear
from members.ean import ean13_from_serial
from members.models import Card, Cashier, Member, Segment
from members.roles import roles_sync
from members.services import card_issue
from partners.models import Outlet, Partner, PartnerRate
from partners.selectors import operator_partner
from partners.services import api_key_create
from partners.statements import statements_close_due
from rewards.models import Reward
from rewards.services import reward_redeem

LOGINS = [
    # username, password, what the role does
    ("admin", "admin-demo-2026", "administrator (all of the admin)"),
    ("marketer", "marketer-demo-2026", "marketer (program, rewards, journeys, reports)"),
    ("support", "support-demo-2026", "support (members, cards, adjustments)"),
    ("partners", "partners-demo-2026", "partner manager (partners, statements)"),
    ("cashier", "cashier-demo-2026", "cashier at the central store: the till, /till/"),
]
DEMO_ROLES = {
    "admin": "Administrator",
    "marketer": "Marketer",
    "support": "Support",
    "partners": "Partner manager",
    "cashier": "Cashier",
}
# A customer of the cabinet: the first demo member, signed in by email.
CUSTOMER_EMAIL, CUSTOMER_PASSWORD = "customer@example.com", "customer-demo-2026"
PHARMACY_CODE = "pharmacy"
MAX_VISITS = 40
NICKNAMES = ["the Bold", "Coffee Fan", "from Riverside", "Early Bird", "Star", "Runner"]
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
        operator = operator_partner()
        if not Outlet.objects.filter(partner=operator, code="central").exists():
            # The demo's journey emails stay in memory: a year of them would flood the console.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
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
        self._staff_users(outlets[0])
        self._mechanics()
        now = timezone.now()
        receipts = []
        for serial in range(member_count):
            receipts += self._member_with_visits(operator, outlets, serial, rng, now)
        pharmacy = self._coalition_partner(now)
        self._history(operator, outlets, pharmacy, sorted(receipts), rng, now)
        for serial in range(member_count, member_count + 50):  # blank cards for the till
            Card.objects.create(number=ean13_from_serial("200", serial), partner=operator)
        pending_release_due(now=now)
        lots_expire_due(now=now)
        tiers_recalculate_all(now=now)
        self._club_and_segment(rng)
        self._rewards(rng, now)
        self._cabinet_customer()
        statements_close_due(now=now)
        anniversary_badges_award(timezone.localdate(now))
        self._leaderboard(rng, now)
        journeys_run(now)
        self._journey_engagement(rng)
        daily_figures_backfill(now)
        cohorts_refresh(now)
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
        self._tiers()
        self._badges()
        self._onboarding_journey()

    def _leaderboard(self, rng: random.Random, now: datetime) -> None:
        """About a third of the members take part under a nickname, the demo customer too."""
        members = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk"))
        for member in members:
            if member.user_id is not None or rng.random() < 0.35:
                first = member.full_name.split(" ")[0] or "Member"
                leaderboard_join(member, f"{first} {rng.choice(NICKNAMES)}")
        leaderboard_refresh(now)

    def _journey_engagement(self, rng: random.Random) -> None:
        """Demo data: some of the emails were opened, and some of those clicked."""
        sent = JourneyMessage.objects.filter(
            status=JourneyMessage.Status.SENT, sent_at__isnull=False
        ).values_list("pk", "sent_at")
        for message_id, sent_at in sent:
            if sent_at is not None and rng.random() < 0.45:
                opened = sent_at + timedelta(hours=rng.randint(1, 48))
                clicked = opened if rng.random() < 0.3 else None
                JourneyMessage.objects.filter(pk=message_id).update(
                    opened_at=opened, clicked_at=clicked
                )

    def _onboarding_journey(self) -> None:
        """The issue's onboarding: day 14 a personal email about the product bought, day
        21 a nudge to register with a discount if not registered yet, day 28 the program."""
        journey = Journey.objects.create(
            name="Onboarding", trigger=Journey.Trigger.CARD_ISSUED, control_share=Decimal("0.2")
        )
        steps: list[dict[str, Any]] = [
            {
                "delay_days": 14,
                "action": JourneyStep.Action.EMAIL,
                "subject": (
                    "How do you like {product}?",
                    "Как вам {product}?",
                    "Jak Ci się podoba {product}?",
                ),
                "text": (
                    "Hello {name}! Two weeks ago you took {product} home. "
                    "We hope you enjoy it.\n\nYou have {points} points to spend.",
                    "Здравствуйте, {name}! Две недели назад вы купили {product}. "
                    "Надеемся, вам понравилось.\n\nУ вас {points} баллов.",  # noqa: RUF001
                    "Dzień dobry, {name}! Dwa tygodnie temu kupiłeś {product}. "
                    "Mamy nadzieję, że się podoba.\n\nMasz {points} punktów.",
                ),
                "link": "/rewards/",
            },
            {
                "delay_days": 21,
                "condition": JourneyStep.Condition.NOT_REGISTERED,
                "action": JourneyStep.Action.OFFER,
                "subject": ("Welcome: 10% off", "Подарок: скидка 10%", "Prezent: 10% zniżki"),
                "offer_percent": Decimal("10"),
                "offer_days": 14,
            },
            {
                "delay_days": 21,
                "condition": JourneyStep.Condition.NOT_REGISTERED,
                "action": JourneyStep.Action.EMAIL,
                "subject": (
                    "A 10% discount is waiting in your cabinet",
                    "В личном кабинете вас ждёт скидка 10%",  # noqa: RUF001
                    "W Twoim panelu czeka 10% zniżki",
                ),
                "text": (
                    "{name}, register in your cabinet to see your points, history and the "
                    "10% discount we keep for you for two weeks.",
                    "{name}, зарегистрируйтесь в личном кабинете: там ваши баллы, история и "
                    "скидка 10%, которую мы храним для вас две недели.",
                    "{name}, zarejestruj się w panelu klienta: znajdziesz tam punkty, historię "
                    "i 10% zniżki, którą trzymamy dla Ciebie przez dwa tygodnie.",
                ),
                "link": "/accounts/signup/",
            },
            {
                "delay_days": 28,
                "action": JourneyStep.Action.EMAIL,
                "subject": (
                    "Points, badges and your roadmap",
                    "Баллы, значки и ваш путь",
                    "Punkty, odznaki i Twoja droga",
                ),
                "text": (
                    "{name}, every purchase earns points you can spend on rewards. Collect "
                    "badges and follow your roadmap to the next tier.",
                    "{name}, каждая покупка приносит баллы, которые можно потратить на награды. "
                    "Собирайте значки и идите по своему пути к следующему уровню.",
                    "{name}, każdy zakup daje punkty, które wymienisz na nagrody. Zbieraj "
                    "odznaki i idź swoją drogą do kolejnego poziomu.",
                ),
                "link": "/roadmap/",
            },
        ]
        for position, step in enumerate(steps, start=1):
            subject = step.pop("subject")
            text = step.pop("text", ("", "", ""))
            JourneyStep.objects.create(
                journey=journey,
                position=position,
                subject_en=subject[0],
                subject_ru=subject[1],
                subject_pl=subject[2],
                text_en=text[0],
                text_ru=text[1],
                text_pl=text[2],
                **step,
            )
        journeys_cache_clear()

    def _badges(self) -> None:
        """The engagement badges, before the history so that purchases earn them."""
        vip = Tier.objects.get(name="VIP")
        badges: list[tuple[str, dict[str, Any], int, tuple[str, str, str]]] = [
            ("first_purchase", {}, 0, ("First step", "Первый шаг", "Pierwszy krok")),
            (
                "purchases_in_month",
                {"count": 4},
                40,
                ("Regular", "Постоянный покупатель", "Stały klient"),
            ),
            (
                "record_receipt",
                {"minimum": Decimal("5000")},
                100,
                ("Biggest customer", "Самый крупный чек", "Największy klient"),
            ),
            (
                "record_items",
                {"minimum": Decimal("3")},
                30,
                ("Longest receipt", "Самый длинный чек", "Najdłuższy paragon"),
            ),
            ("first_referral", {}, 50, ("Ambassador", "Амбассадор", "Ambasador")),
            ("feedback", {}, 0, ("Critic", "Критик", "Krytyk")),
            ("tier_reached", {"tier": vip}, 0, ("VIP", "VIP", "VIP")),
            ("anniversary", {"count": 1}, 100, ("One year together", "Год вместе", "Rok razem")),
        ]
        for position, (rule, fields, points, (en, ru, pl)) in enumerate(badges):
            Badge.objects.create(
                rule=rule,
                points=points,
                position=position,
                name_en=en,
                name_ru=ru,
                name_pl=pl,
                **fields,
            )
        badges_cache_clear()

    def _tiers(self) -> None:
        status = TierLadder.objects.create(
            name="Status", window=TierLadder.Window.CALENDAR_MONTH, grace_days=30
        )
        Tier.objects.create(
            ladder=status,
            name="VIP",
            rank=1,
            min_spend=Decimal("10000.01"),
            earn_multiplier=Decimal("1.5"),
            free_delivery=True,
            personal_manager=True,
            description="More than 10,000 RUB in a month: free delivery and a personal manager.",
        )
        discount = TierLadder.objects.create(name="Discount", window=TierLadder.Window.LIFETIME)
        for rank, (name, spend, percent) in enumerate(
            [("3%", 1000, 3), ("5%", 3000, 5), ("7%", 10000, 7)], start=1
        ):
            Tier.objects.create(
                ladder=discount,
                name=name,
                rank=rank,
                min_spend=Decimal(spend),
                discount_percent=Decimal(percent),
            )
        club = TierLadder.objects.create(name="Club", window=TierLadder.Window.CLUB)
        club_tier = Tier.objects.create(
            ladder=club, name="Club member", rank=1, discount_percent=10, free_delivery=True
        )
        ClubPlan.objects.create(name="Club month", tier=club_tier, fee=299, validity_days=30)
        tier_snapshot_cache_clear()
        coffee = Segment.objects.create(
            name="Coffee lovers", description="Members who bought coffee beans."
        )
        coffee_rule = EarningRule.objects.create(
            name="Coffee lovers: +30 on coffee", action="add_fixed", value=30, categories="coffee"
        )
        coffee_rule.segments.add(coffee)
        EarningRule.objects.create(
            name="Birthday week: double points", action="multiply", value=2, birthday_window_days=3
        )
        EarningRule.objects.create(
            name="Breakfast: +20 before 11, up to 100 a month",
            action="add_fixed",
            value=20,
            hour_from=7,
            hour_to=11,
            cap_per_member=100,
            cap_period=EarningRule.CapPeriod.MONTH,
        )
        earning_rules_cache_clear()

    def _club_and_segment(self, rng: random.Random) -> None:
        members = list(Member.objects.order_by("pk"))
        plan = ClubPlan.objects.get()
        for member in rng.sample(members, k=max(1, len(members) // 20)):
            club_join(member_id=member.pk, plan=plan)
        coffee_buyers = set(
            Purchase.objects.filter(items__contains=[{"category": "coffee"}]).values_list(
                "member_id", flat=True
            )
        )
        Segment.objects.get().members.add(*coffee_buyers)

    def _rewards(self, rng: random.Random, now: datetime) -> None:
        """The catalogue, and a few members who already redeemed from it."""
        ten_percent = Reward.objects.create(
            kind=Reward.Kind.PERCENT_DISCOUNT,
            point_cost=100,
            discount_percent=Decimal("10"),
            name_en="10% off your next purchase",
            name_ru="Скидка 10% на следующую покупку",
            name_pl="10% zniżki na kolejne zakupy",
            voucher_valid_days=30,
        )
        Reward.objects.create(
            kind=Reward.Kind.FIXED_DISCOUNT,
            point_cost=400,
            discount_amount=Decimal("500"),
            name_en="500 RUB off",
            name_ru="Скидка 500 ₽",
            name_pl="500 RUB zniżki",
        )
        Reward.objects.create(
            kind=Reward.Kind.FREE_PRODUCT,
            point_cost=150,
            stock=50,
            per_member_limit=1,
            name_en="Free coffee",
            name_ru="Кофе в подарок",
            name_pl="Darmowa kawa",
        )
        tote = Reward.objects.create(
            kind=Reward.Kind.GIFT,
            point_cost=800,
            stock=20,
            name_en="Canvas tote bag (VIP)",
            name_ru="Холщовая сумка (VIP)",
            name_pl="Torba płócienna (VIP)",
        )
        tote.tiers.set(Tier.objects.filter(name="VIP"))
        Reward.objects.create(
            kind=Reward.Kind.CHARITY,
            point_cost=200,
            name_en="Donate 200 RUB to the food bank",
            name_ru="Пожертвовать 200 ₽ продовольственному банку",
            name_pl="Przekaż 200 RUB na bank żywności",
        )
        rich = Account.objects.filter(kind=Kind.AVAILABLE, balance__gte=300).order_by("id")
        for account in rich[:20]:
            assert account.member_id is not None
            if rng.random() < 0.5:
                reward_redeem(member_id=account.member_id, reward_id=ten_percent.pk, now=now)

    def _cabinet_customer(self) -> None:
        """The member with the longest history gets a cabinet login with a verified email."""
        member = Member.objects.annotate(visits=Count("purchases")).order_by("-visits").first()
        if member is None:
            return
        user = User.objects.create_user("customer", CUSTOMER_EMAIL, CUSTOMER_PASSWORD)
        EmailAddress.objects.create(user=user, email=CUSTOMER_EMAIL, verified=True, primary=True)
        Member.objects.filter(pk=member.pk).update(user=user, email=CUSTOMER_EMAIL)

    def _staff_users(self, till_outlet: Outlet) -> None:
        """One login per role (members.roles), plus the cashier of the central store."""
        roles_sync()
        for username, password, _description in LOGINS:
            user = User.objects.create_user(username, f"{username}@example.com", password)
            role = DEMO_ROLES[username]
            user.is_staff = role != "Cashier"
            user.is_superuser = role == "Administrator"
            user.save()
            user.groups.add(Group.objects.get(name=role))
            if role == "Cashier":
                Cashier.objects.create(user=user, outlet=till_outlet)

    def _member_with_visits(self, operator, outlets, serial, rng, now) -> list[tuple]:
        """Issue a member's card; return the moments of their future visits, with the card."""
        issued_at = now - timedelta(days=rng.randint(1, 400))
        outlet = rng.choice(outlets)
        # The demo cashier works the central store's till: its cards are theirs (KPIs).
        cashier = Cashier.objects.filter(outlet=outlet).select_related("user").first()
        result = card_issue(
            partner=operator,
            card_number=ean13_from_serial("200", serial),
            phone=f"+7912{serial:07d}",
            full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            outlet=outlet,
            issued_by=cashier.user if cashier else None,
            now=issued_at,
        )
        # The member joined when the card was issued (member_create stamps "now").
        Member.objects.filter(pk=result.member.pk).update(created_at=issued_at)
        if rng.random() < 0.7:  # most give an email and agree to hear from us
            Member.objects.filter(pk=result.member.pk).update(
                email=f"member{serial}@example.com", consent_email=True
            )
        # Visits at the member's own steady pace (a Poisson process): a journey report
        # then compares like with like, whenever members joined.
        visits_per_day = rng.uniform(0.2, 2.5) / 30
        moments: list[datetime] = []
        moment = issued_at + timedelta(days=rng.expovariate(visits_per_day))
        while moment < now and len(moments) < MAX_VISITS:
            moments.append(moment)
            moment += timedelta(days=rng.expovariate(visits_per_day))
        return [(moment, serial, index, result.card.number) for index, moment in enumerate(moments)]

    def _coalition_partner(self, now: datetime) -> Partner:
        """A pharmacy chain that awards and accepts the points, and settles monthly."""
        pharmacy = Partner.objects.create(
            code=PHARMACY_CODE,
            name="City Pharmacy",
            contact_name="Anna Nowak",
            contact_email="settlements@pharmacy.example",
        )
        PartnerRate.objects.create(
            partner=pharmacy,
            valid_from=(now - timedelta(days=420)).date(),
            issued_price=Decimal("0.80"),
            redeemed_price=Decimal("0.70"),
        )
        return pharmacy

    def _history(self, operator, outlets, pharmacy, receipts, rng, now) -> None:
        """Every member's receipts in time order, with the nightly jobs run as days pass.

        About one receipt in eight is the coalition pharmacy's, for its statements."""
        last_night = None
        for moment, serial, index, card_number in receipts:
            night = timezone.localtime(moment).replace(hour=3, minute=0, second=0, microsecond=0)
            if night != last_night:
                pending_release_due(now=night)
                tiers_recalculate_all(now=night)
                journeys_run(night)
                last_night = night
            category = rng.choice(list(CATEGORIES))
            # Mostly everyday baskets (about 1,000), now and then a big one.
            amount = Decimal(max(150, min(30000, int(rng.lognormvariate(7, 0.8))))) + Decimal(
                rng.randint(0, 99)
            ) / Decimal(100)
            partner, outlet = (
                (pharmacy, None) if rng.random() < 0.125 else (operator, rng.choice(outlets))
            )
            try:
                recorded = purchase_record(
                    partner=partner,
                    outlet=outlet,
                    card_number=card_number,
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
                )
            except LoyaltyError:
                continue  # not enough points to redeem: the customer paid in full elsewhere
            if rng.random() < 0.05:
                refund_record(
                    partner=partner, purchase_id=recorded.purchase.pk, amount=amount / 2, now=moment
                )

    def _print_logins(self, operator: Partner) -> None:
        key = api_key_create(partner=operator, outlet=None, name="demo POS")
        pharmacy = Partner.objects.filter(code=PHARMACY_CODE).first()
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Demo is ready at http://127.0.0.1:8000"))
        self.stdout.write("  Admin:     http://127.0.0.1:8000/admin/")
        self.stdout.write("  Till:      http://127.0.0.1:8000/till/")
        self.stdout.write("  API docs:  http://127.0.0.1:8000/api/docs/")
        self.stdout.write("  Cabinet:   http://127.0.0.1:8000/")
        for username, password, role in LOGINS:
            self.stdout.write(f"  {username:<9} / {password:<20} {role}")
        self.stdout.write(f"  {CUSTOMER_EMAIL} / {CUSTOMER_PASSWORD}   customer (the cabinet, /)")
        self.stdout.write(f"  POS API key: {key}")
        self.stdout.write(
            f'  Try: curl -H "Authorization: Api-Key {key}" '
            f"http://127.0.0.1:8000/api/v1/cards/{ean13_from_serial('200', 0)}/balance/"
        )
        if pharmacy is not None:
            pharmacy_key = api_key_create(partner=pharmacy, outlet=None, name="demo settlements")
            self.stdout.write(f"  Partner API key (City Pharmacy): {pharmacy_key}")
            self.stdout.write(
                f'  Try: curl -H "Authorization: Api-Key {pharmacy_key}" '
                "http://127.0.0.1:8000/api/v1/settlements/"
            )
        self.stdout.write("")
