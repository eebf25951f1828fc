"""The authorization matrix: every door, every caller.

The doors are generated, not listed by hand: every URL of the URL conf, every page and
action of every model the admin registers, every operation of the OpenAPI schema. Each one
must have a rule below, so a new URL, admin page, action or API operation without a rule
fails here instead of shipping open. The rules say which permission opens a door (any one
of a set; none: nobody), and the test checks every caller against them: an anonymous
visitor, a customer, a cashier signed in at the till, each staff role, and for the API
every kind of key. A sweep of every GET also proves that no GET changes the database.
"""

import re
from datetime import date
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

import pytest
import yaml
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from loyalty.holds import hold_create
from loyalty.models import Badge, Journey, RoadmapStep, Tier
from loyalty.reports import non_member_sales_record
from members.ean import ean13_from_serial
from members.models import Card, CardClaim, CardImport, Cashier, Member, TillAction
from members.services import card_batch_create
from members.signin import TILL_BACKEND
from partners.models import ApiKey, Outlet, Partner, Statement, WebhookDelivery, WebhookEndpoint
from partners.services import api_key_create, api_key_revoke
from partners.statements import partner_statements_settle
from rewards.models import Reward
from tests.factories import PartnerFactory
from tests.schema_check import APIClient

pytestmark = pytest.mark.django_db

STAFF_ROLES = ("Marketer", "Support", "Partner manager", "Administrator")
NOBODY: frozenset[str] = frozenset()
VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"


def perms(label: str, *actions: str) -> frozenset[str]:
    """`members.member`, `view`, `change` → {members.view_member, members.change_member}."""
    app, model = label.split(".")
    return frozenset(f"{app}.{action}_{model}" for action in actions)


def editable(label: str, **exceptions: frozenset[str]) -> dict[str, frozenset[str]]:
    """A model staff edit: each page needs its own permission (viewing: view or change)."""
    rule = {
        VIEW: perms(label, "view", "change"),
        ADD: perms(label, "add"),
        CHANGE: perms(label, "change"),
        DELETE: perms(label, "delete"),
    }
    return {**rule, **exceptions}


def read_only(label: str, **exceptions: frozenset[str]) -> dict[str, frozenset[str]]:
    """Records the admin shows and never edits (the ledger, history, computed figures)."""
    return {VIEW: perms(label, "view", "change"), ADD: NOBODY, CHANGE: NOBODY, DELETE: NOBODY} | (
        exceptions
    )


def report(permission: str) -> dict[str, frozenset[str]]:
    """A report drawn on its model's page, opened by one permission."""
    return {VIEW: frozenset({permission}), ADD: NOBODY, CHANGE: NOBODY, DELETE: NOBODY}


# Every model the admin registers. Deleting is NOBODY where history must stay (members are
# anonymised, cards blocked, rates and keys superseded or revoked).
MODEL_RULES: dict[str, dict[str, frozenset[str]]] = {
    "authtoken.tokenproxy": editable("authtoken.tokenproxy"),
    "account.emailaddress": editable("account.emailaddress"),
    "mfa.authenticator": editable("mfa.authenticator"),
    "auth.user": editable("auth.user"),
    "auth.group": editable("auth.group"),
    "admin.logentry": read_only("admin.logentry"),
    "partners.partner": editable("partners.partner"),
    "partners.outlet": editable("partners.outlet"),
    "partners.apikey": editable("partners.apikey", change=NOBODY, delete=NOBODY),
    "partners.webhookendpoint": editable("partners.webhookendpoint"),
    "partners.webhookdelivery": editable("partners.webhookdelivery", add=NOBODY, delete=NOBODY),
    "partners.statement": read_only("partners.statement"),
    "members.segment": editable("members.segment"),
    "members.member": editable("members.member", delete=NOBODY),
    "members.card": editable("members.card", delete=NOBODY),
    "members.cardbatch": editable("members.cardbatch", change=NOBODY, delete=NOBODY),
    # The job's page is its own view: it shows the check and the result, edits nothing.
    "members.cardimport": editable(
        "members.cardimport", change=perms("members.cardimport", "view", "change"), delete=NOBODY
    ),
    "members.cashier": editable("members.cashier"),
    "members.tillaction": read_only("members.tillaction"),
    "members.cardclaim": read_only("members.cardclaim"),
    "members.cashierreport": report("members.view_cashier"),
    "members.dataqualityreport": report("members.view_member"),
    "loyalty.programsettings": editable("loyalty.programsettings", add=NOBODY, delete=NOBODY),
    "loyalty.earningrule": editable("loyalty.earningrule"),
    "loyalty.eventbonus": editable("loyalty.eventbonus"),
    "loyalty.eventaward": read_only("loyalty.eventaward"),
    "loyalty.account": read_only("loyalty.account"),
    "loyalty.transfer": read_only("loyalty.transfer"),
    "loyalty.lot": read_only("loyalty.lot"),
    "loyalty.purchase": read_only("loyalty.purchase"),
    "loyalty.tierladder": editable("loyalty.tierladder"),
    "loyalty.membertier": read_only("loyalty.membertier"),
    "loyalty.tierchange": read_only("loyalty.tierchange"),
    "loyalty.clubplan": editable("loyalty.clubplan"),
    # Joining the club by hand (the till took the fee) is its own add page.
    "loyalty.clubmembership": read_only(
        "loyalty.clubmembership", add=perms("loyalty.clubmembership", "add")
    ),
    "loyalty.hold": read_only("loyalty.hold"),
    # Requested from a member's page; approved by the changelist's actions.
    "loyalty.pointsadjustment": read_only("loyalty.pointsadjustment"),
    "loyalty.badge": editable("loyalty.badge"),
    "loyalty.memberbadge": read_only("loyalty.memberbadge"),
    "loyalty.roadmapstep": editable("loyalty.roadmapstep"),
    "loyalty.journey": editable("loyalty.journey"),
    "loyalty.journeyentry": read_only("loyalty.journeyentry"),
    "loyalty.journeymessage": read_only("loyalty.journeymessage"),
    "loyalty.dailyfigures": report("loyalty.view_reports"),
    "loyalty.cohortmonth": report("loyalty.view_reports"),
    "loyalty.nonmembersales": read_only("loyalty.nonmembersales"),
    "rewards.reward": editable("rewards.reward"),
    "rewards.voucher": read_only("rewards.voucher"),
}

# Every action of a changelist (Django's bulk actions): what it needs.
ACTION_RULES: dict[tuple[str, str], frozenset[str]] = {
    **{
        (label, "delete_selected"): rule[DELETE]
        for label, rule in MODEL_RULES.items()
        # DRF's token admin has no bulk actions (its rows are found by user id).
        if rule[DELETE] and label != "authtoken.tokenproxy"
    },
    ("account.emailaddress", "make_verified"): perms("account.emailaddress", "change"),
    ("partners.apikey", "revoke"): perms("partners.apikey", "change"),
    ("partners.webhookdelivery", "retry_now"): perms("partners.webhookdelivery", "change"),
    ("members.member", "points_award"): frozenset({"loyalty.add_pointsadjustment"}),
    ("members.member", "segment_add"): frozenset({"members.change_segment"}),
    ("members.member", "segment_remove"): frozenset({"members.change_segment"}),
    ("members.member", "export_csv"): perms("members.member", "view", "change"),
    ("members.member", "export_xlsx"): perms("members.member", "view", "change"),
    ("members.card", "block"): perms("members.card", "change"),
    ("members.card", "export_csv"): perms("members.card", "view", "change"),
    ("members.card", "export_xlsx"): perms("members.card", "view", "change"),
    ("loyalty.pointsadjustment", "approve"): frozenset({"loyalty.approve_pointsadjustment"}),
    ("loyalty.pointsadjustment", "reject"): frozenset({"loyalty.approve_pointsadjustment"}),
}

# Admin URLs of the project's own (Unfold's page actions, the import's steps), by name:
# {method: what it needs}. Pages that change anything answer a GET with a confirmation.
SETTLE = frozenset({"partners.change_statement"})
CUSTOM_ADMIN_RULES: dict[str, dict[str, frozenset[str]]] = {
    "partners_statement_settle_now": {"GET": SETTLE, "POST": SETTLE},
    "partners_statement_recalculate": {"GET": SETTLE, "POST": SETTLE},
    "partners_statement_close": {"GET": SETTLE, "POST": SETTLE},
    "partners_statement_download_csv": {"GET": perms("partners.statement", "view", "change")},
    "partners_statement_download_pdf": {"GET": perms("partners.statement", "view", "change")},
    "members_member_tier_floor": {"GET": frozenset({"loyalty.change_membertier"})},
    "members_member_points_adjust": {"GET": frozenset({"loyalty.add_pointsadjustment"})},
    "members_member_personal_offer": {"GET": frozenset({"rewards.add_voucher"})},
    "members_cardbatch_numbers_csv": {"GET": perms("members.cardbatch", "view", "change")},
    "members_cardimport_progress": {"GET": perms("members.cardimport", "view", "change")},
    "members_cardimport_report": {"GET": perms("members.cardimport", "view", "change")},
    # Confirming an import writes: POST only.
    "members_cardimport_confirm": {"GET": NOBODY, "POST": perms("members.cardimport", "add")},
    "loyalty_earningrule_what_if": {"GET": perms("loyalty.earningrule", "view", "change")},
    "loyalty_journey_report": {"GET": perms("loyalty.journey", "view", "change")},
    "auth_user_password_change": {"GET": perms("auth.user", "change")},
}

# The admin site's own pages: any active staff member (each shows only what they may see).
STAFF = "staff"
SITE_RULES = {
    "index": STAFF,
    "search": STAFF,
    "jsi18n": STAFF,
    "password_change": STAFF,
    "password_change_done": STAFF,
    "view_on_site": STAFF,
    "app_list": STAFF,
    "login": "public",
    "logout": "public",
    # Whoever may view users may search them when choosing a cashier's login.
    "autocomplete": "autocomplete",
}

# Every other URL, by name: (who, method to knock with). "public": anyone; "signed-in": any
# signed-in login (cabinet pages send a login without a card to get one); "cashier": a
# cashier signed in at the till, or a staff member who is also a cashier; "token": anyone,
# the signed token in the URL is the credential; "api": tested with keys below.
SIGNED_IN, CASHIER, PUBLIC, TOKEN, API = "signed-in", "cashier", "public", "token", "api"
# A step of signing in (the code, the second factor): without a sign-in under way, the
# visitor is sent to sign in. Signing out sends everyone to the sign-in page.
SIGN_IN_STEP, SIGN_OUT = "sign-in step", "sign-out"
URL_RULES: dict[str, tuple[str, str]] = {
    "set_language": (PUBLIC, "POST"),
    "health": (PUBLIC, "GET"),
    "health-live": (PUBLIC, "GET"),
    "health-ready": (PUBLIC, "GET"),
    "api-schema": (PUBLIC, "GET"),
    "api-docs": (PUBLIC, "GET"),
    # Tracking links of journey emails: a GET records the open or the click (analytics
    # only; no points or member data change). The token is random and signed.
    "journey-click": (TOKEN, "GET"),
    "journey-open": (TOKEN, "GET"),
    "journey-unsubscribe": (TOKEN, "GET"),
    "till": (CASHIER, "GET"),
    "till-login": (PUBLIC, "GET"),
    "till-logout": (SIGN_OUT, "POST"),
    "till-find": (CASHIER, "POST"),
    "till-issue": (CASHIER, "POST"),
    "till-issue-confirm": (CASHIER, "POST"),
    "till-purchase": (CASHIER, "POST"),
    "till-refund": (CASHIER, "POST"),
    "till-voucher": (CASHIER, "POST"),
    "account_login": (PUBLIC, "GET"),
    "account_logout": (SIGNED_IN, "GET"),  # asks to confirm; sends a visitor to sign in
    "account_inactive": (PUBLIC, "GET"),
    "account_signup": (PUBLIC, "GET"),
    "account_reauthenticate": (SIGNED_IN, "GET"),
    "account_email": (SIGNED_IN, "GET"),
    "account_email_verification_sent": (PUBLIC, "GET"),
    "account_change_password": (SIGNED_IN, "GET"),
    "account_set_password": (SIGNED_IN, "GET"),
    "account_reset_password": (PUBLIC, "GET"),
    "account_confirm_login_code": (SIGN_IN_STEP, "GET"),
    "account_confirm_email": (TOKEN, "GET"),
    "account_verify_phone": (SIGN_IN_STEP, "GET"),
    "account_change_phone": (SIGNED_IN, "GET"),
    "account_reset_password_from_key_done": (PUBLIC, "GET"),
    "account_reset_password_from_key": (TOKEN, "GET"),
    "account_reset_password_done": (PUBLIC, "GET"),
    "mfa_index": (SIGNED_IN, "GET"),
    "mfa_authenticate": (SIGN_IN_STEP, "GET"),
    "mfa_reauthenticate": (SIGNED_IN, "GET"),
    "mfa_activate_totp": (SIGNED_IN, "GET"),
    "mfa_deactivate_totp": (SIGNED_IN, "GET"),
    "mfa_view_recovery_codes": (SIGNED_IN, "GET"),
    "mfa_generate_recovery_codes": (SIGNED_IN, "GET"),
    "mfa_download_recovery_codes": (SIGNED_IN, "GET"),
    "cabinet-home": (SIGNED_IN, "GET"),
    "cabinet-start": (SIGNED_IN, "GET"),
    "cabinet-virtual-card": (SIGNED_IN, "POST"),
    "cabinet-link-card": (SIGNED_IN, "GET"),
    "cabinet-link-confirm": (SIGNED_IN, "GET"),
    "cabinet-history": (SIGNED_IN, "GET"),
    "cabinet-rewards": (SIGNED_IN, "GET"),
    "cabinet-reward": (SIGNED_IN, "GET"),
    "cabinet-vouchers": (SIGNED_IN, "GET"),
    "cabinet-roadmap": (SIGNED_IN, "GET"),
    "cabinet-badges": (SIGNED_IN, "GET"),
    "cabinet-leaderboard": (SIGNED_IN, "GET"),
    "cabinet-profile": (SIGNED_IN, "GET"),
    "cabinet-export": (SIGNED_IN, "GET"),
    "cabinet-delete": (SIGNED_IN, "GET"),
    "cabinet-join": (PUBLIC, "GET"),
    **{
        name: (API, "")
        for name in (
            "cards-issue",
            "cards-balance",
            "cards-replace",
            "cards-confirm",
            "members-lookup",
            "events",
            "club-plans",
            "club-memberships",
            "purchases",
            "nonmember-sales",
            "purchases-detail",
            "purchases-refunds",
            "holds",
            "holds-capture",
            "holds-void",
            "settlements",
            "settlements-detail",
            "settlements-csv",
            "settlements-pdf",
            "me",
            "me-token",
            "me-history",
            "me-rewards",
            "me-rewards-redeem",
            "me-vouchers",
            "vouchers-detail",
            "vouchers-redeem",
        )
    },
}


# --- The callers


class Caller:
    def __init__(self, name: str, user: User | None, backend: str | None = None) -> None:
        self.name = name
        self.user = user
        self.backend = backend
        self.is_staff = bool(user and user.is_staff)
        self.at_till = backend == TILL_BACKEND  # nobody outside the till
        self.is_cashier = bool(user and Cashier.objects.filter(user=user).exists())
        self.perms: set[str] = set(user.get_all_permissions()) if user else set()

    def sign_in(self) -> None:
        """Signs in once: each request then gets a client of its own holding this session,
        so that a door that signs out leaves the others' session as it was."""
        signed_in = Client()
        if self.user is not None:
            signed_in.force_login(self.user, backend=self.backend)
        self.cookies = signed_in.cookies

    def client(self) -> Client:
        client = Client()
        client.cookies = SimpleCookie(self.cookies.output(header="", sep=";"))
        return client

    def __repr__(self) -> str:
        return self.name


def _staff(role: str, name: str = "") -> User:
    name = name or f"matrix-{role.lower().replace(' ', '-')}"
    user = User.objects.create_user(name, password="pw-test-only", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # without the permission cache


def _staff_cashier(outlet: Outlet) -> User:
    user = _staff("Support", name="matrix-support-cashier")
    Cashier.objects.create(user=user, outlet=outlet)
    return user


@pytest.fixture
def staff_callers(db) -> list[Caller]:
    return [Caller(role, _staff(role)) for role in STAFF_ROLES]


def signed_in(callers: list[Caller]) -> list[Caller]:
    for caller in callers:
        caller.sign_in()
    return callers


@pytest.fixture
def callers(world, staff_callers) -> list[Caller]:
    customer = User.objects.get(username="customer")  # the demo's, with a member and card
    cashier = User.objects.get(username="cashier")
    return signed_in(
        [
            Caller("anonymous", None),
            Caller("customer", customer, "allauth.account.auth_backends.AuthenticationBackend"),
            Caller("cashier", cashier, TILL_BACKEND),
            *staff_callers,
            Caller("support who is a cashier", _staff_cashier(world["outlet"])),
        ]
    )


@pytest.fixture
def world(operator, settings) -> dict[str, Any]:
    """The demo's program (a row of nearly every model), and a row of each model it lacks."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("seed_demo", "--members", "12")
    boss = User.objects.get(username="admin")
    member = Member.objects.filter(cards__status__in=Card.USABLE).first()
    card = Card.objects.filter(member=member, status__in=Card.USABLE).first()
    outlet = Outlet.objects.filter(partner=operator).first()
    Token.objects.create(user=boss)  # its admin finds tokens by their user's id
    TOTP.activate(boss, generate_totp_secret())
    endpoint = WebhookEndpoint.objects.create(partner=operator, url="https://hooks.example.com/")
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id="msg_matrix",
        event=endpoint.events[0] if endpoint.events else "points.earned",
        payload={},
        created_at=timezone.now(),
    )
    LogEntry.objects.log_actions(boss.pk, [member], ADDITION)
    card_batch_create(name="Matrix", partner=operator, prefix="201", size=2)
    CardImport.objects.create(file="imports/matrix.csv", original_name="matrix.csv")
    TillAction.objects.create(cashier=boss, outlet=outlet, kind=TillAction.Kind.LOOKUP)
    CardClaim.objects.create(
        kind=CardClaim.Kind.ATTACH,
        member=member,
        card_number="2000000000015",
        code_hash="not a digest",
        sent_to="+7 *** ***-00-00",
        expires_at=timezone.now(),
        partner=operator,
    )
    hold_create(
        partner=operator,
        outlet=outlet,
        card_number=card.number,
        points=1,
    )
    RoadmapStep.objects.create(kind=RoadmapStep.Kind.TIER, tier=Tier.objects.first())
    non_member_sales_record(
        partner=operator, outlet=outlet, day=date.today(), receipts=1, revenue=Decimal(1)
    )
    from loyalty.adjustments import adjustment_request

    adjustment_request(member=member, points=10**6, reason="matrix", by=boss)
    # Deleting these depends on their history; fresh ones have none.
    fresh = {
        "loyalty.badge": Badge.objects.create(name_en="Matrix", rule="first_purchase").pk,
        "loyalty.journey": Journey.objects.create(name="Matrix", trigger="card_issued").pk,
        "rewards.reward": Reward.objects.create(kind="gift", name_en="Matrix", point_cost=1).pk,
        "authtoken.tokenproxy": boss.pk,
    }
    return {"fresh": fresh, "operator": operator, "outlet": outlet, "card": card}


def object_pk(label: str, world: dict[str, Any]) -> Any:
    if label in world["fresh"]:
        return world["fresh"][label]
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    assert pk is not None, f"the matrix needs a row of {label}"
    return pk


# --- Knocking on a door


def outcome(response) -> str:
    """`login` (sent to sign in), `refused` (401, 403), `error` (5xx) or `open` (anything
    else: the page, a redirect elsewhere, 404 for a missing object, 405, 4xx for bad
    input)."""
    if response.status_code >= 500:
        return "error"  # never expected: a door must answer, not fail
    if response.status_code == 403:
        return "refused"
    if response.status_code == 302 and any(
        path in response.url for path in ("/admin/login/", "/accounts/login/", "/till/login/")
    ):
        return "login"
    if response.status_code == 401:
        return "refused"
    return "open"


def knock(client: Client, method: str, url: str):
    """A GET, or an empty POST whose writes, if the door opens, are taken back: the matrix
    asks who gets in, not what happens inside."""
    if method == "GET":
        return client.get(url)
    with transaction.atomic():
        response = client.post(url, {})
        transaction.set_rollback(True)
    return response


def may(caller: Caller, needs: frozenset[str]) -> bool:
    return bool(needs & caller.perms)


def admin_expected(caller: Caller, needs: frozenset[str] | str) -> str:
    if not caller.is_staff:
        return "login"
    if needs == STAFF:
        return "open"
    return "open" if may(caller, needs) else "refused"  # type: ignore[arg-type]


def walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern.name


def admin_doors(world) -> list[tuple[str, str, str, Any]]:
    """(url, method, rule kind, what it needs) for every named admin URL."""
    doors = []
    models = {f"{m._meta.app_label}_{m._meta.model_name}": m for m in admin.site._registry}
    for _route, namespace, name in walk(get_resolver().url_patterns):
        if namespace != "admin" or name is None:
            continue
        model_key, _sep, page = name.rpartition("_")
        if name in CUSTOM_ADMIN_RULES:
            label = _label_of(name, models)
            kwargs = _kwargs_for(name, label, world)
            for method, needs in CUSTOM_ADMIN_RULES[name].items():
                doors.append((reverse(f"admin:{name}", kwargs=kwargs), method, name, needs))
        elif model_key in models and page in ("changelist", "add", "change", "delete", "history"):
            label = models[model_key]._meta.label_lower
            assert label in MODEL_RULES, f"no rule for the admin of {label}"
            rule = MODEL_RULES[label]
            kwargs = {} if page in ("changelist", "add") else {"object_id": object_pk(label, world)}
            url = reverse(f"admin:{name}", kwargs=kwargs)
            needs = {"changelist": rule[VIEW], "add": rule[ADD], "change": rule[VIEW]}.get(
                page, rule[DELETE] if page == "delete" else rule[VIEW]
            )
            doors.append((url, "GET", name, needs))
            if page == "change":
                doors.append((url, "POST", name, rule[CHANGE]))
        elif name in SITE_RULES or page in SITE_RULES:
            site_page = name if name in SITE_RULES else page
            doors.extend(_site_doors(site_page))
        else:
            raise AssertionError(f"admin URL {name!r} has no rule in the matrix")
    return doors


def _label_of(name: str, models: dict) -> str:
    for key, model in models.items():
        if name.startswith(key + "_"):
            return model._meta.label_lower
    raise AssertionError(name)


def _kwargs_for(name: str, label: str, world) -> dict[str, Any]:
    route = next(r for r, ns, n in walk(get_resolver().url_patterns) if n == name and ns)
    if "<int:import_id>" in route:
        return {"import_id": object_pk(label, world)}
    if "<id>" in route:
        return {"id": object_pk(label, world)}
    if "<path:object_id>" in route:
        return {"object_id": object_pk(label, world)}
    return {}


def _site_doors(page: str) -> list[tuple[str, str, str, Any]]:
    rule = SITE_RULES[page]
    if page == "app_list":
        apps = {m._meta.app_label for m in admin.site._registry}
        return [(reverse("admin:app_list", args=[app]), "GET", page, STAFF) for app in apps]
    if page == "view_on_site":
        return [(reverse("admin:view_on_site", args=[1, 1]), "GET", page, STAFF)]
    if page == "autocomplete":
        query = "?app_label=members&model_name=cashier&field_name=user&term=a"
        return [(reverse("admin:autocomplete") + query, "GET", page, perms("auth.user", "view"))]
    if rule == "public":
        return []  # the sign-in and sign-out pages: tested with the other doors below
    return [(reverse(f"admin:{page}"), "GET", page, STAFF)]


# --- The admin


def test_every_model_the_admin_registers_has_a_rule():
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered == set(MODEL_RULES)


def test_every_admin_page_answers_each_caller_by_its_rule_and_no_get_changes_anything(
    world, callers
):
    wrong = []
    doors = admin_doors(world)
    before = database_fingerprint()
    for caller in callers:
        for url, method, _name, needs in doors:
            response = knock(caller.client(), method, url)
            expected = admin_expected(caller, needs)
            if outcome(response) != expected:
                wrong.append((caller, method, url, response.status_code, expected))
    assert not wrong, "\n" + "\n".join(map(str, wrong))
    assert tables_changed_since(before) == []


def test_every_changelist_action_asks_for_its_permission(staff_callers):
    factory = RequestFactory()
    superuser = User(username="root", is_staff=True, is_superuser=True, is_active=True)
    wrong = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        request = factory.get("/admin/")
        request.user = superuser
        for action in model_admin.get_actions(request):
            assert (label, action) in ACTION_RULES, f"no rule for the action {label}.{action}"
        for caller in staff_callers:
            request.user = caller.user
            offered = set(model_admin.get_actions(request))
            for (rule_label, action), needs in ACTION_RULES.items():
                if rule_label == label and (action in offered) != may(caller, needs):
                    wrong.append((caller, label, action, action in offered))
    assert not wrong, "\n" + "\n".join(map(str, wrong))


def test_every_page_action_declares_the_permission_it_needs():
    """Unfold runs a page action for any staff member who reaches its URL unless it names
    permissions: each must, and the matrix above checks which."""
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        for kind in ("actions_list", "actions_detail", "actions_row", "actions_submit_line"):
            for name in getattr(model_admin, kind, ()) or ():
                method = getattr(model_admin, name)
                if not getattr(method, "allowed_permissions", None):
                    undeclared.append(f"{model._meta.label_lower}.{name}")
    assert undeclared == []


# --- Everything else but the API


# The admin's two unnamed patterns: an object's old address (redirects to its change page)
# and the catch-all that answers 404 to staff and sends others to sign in.
ADMIN_UNNAMED = {"<path:object_id>/", "(?P<url>.*)$"}


def test_every_url_has_a_rule():
    patterns = list(walk(get_resolver().url_patterns))
    assert {namespace for _route, namespace, _name in patterns} == {None, "admin"}
    unnamed = [
        route
        for route, namespace, name in patterns
        if name is None and not (namespace == "admin" and route.endswith(tuple(ADMIN_UNNAMED)))
    ]
    assert unnamed == [], "URLs without a name cannot have a rule"
    named = {name for _route, namespace, name in patterns if namespace is None}
    assert named - set(URL_RULES) == set(), "URLs without a rule in the matrix"
    assert set(URL_RULES) - named == set(), "rules for URLs that no longer exist"


# allauth's two URLs written as regular expressions, with made-up keys.
REGEX_URLS = {
    "account_confirm_email": "/accounts/confirm-email/not-a-key/",
    "account_reset_password_from_key": "/accounts/password/reset/key/1-not-a-key/",
}


def site_url(name: str) -> str:
    """The URL of `name`, its parameters made up (1, or a token that is no token)."""
    if name in REGEX_URLS:
        return REGEX_URLS[name]
    route = next(r for r, ns, n in walk(get_resolver().url_patterns) if n == name and ns is None)
    kwargs: dict[str, Any] = {}
    for part in route.split("<")[1:]:
        converter, _sep, rest = part.partition(":")
        kwargs[rest.partition(">")[0]] = 1 if converter == "int" else "not-a-real-token"
    return reverse(name, kwargs=kwargs)


QUERY = "?q=2000000000015&card=2000000000015&phone=%2B79120000000&code=123456&page=2"


def url_expected(caller: Caller, rule: str) -> str:
    if rule in (PUBLIC, TOKEN):
        return "open"
    if rule in (SIGNED_IN, SIGN_IN_STEP):
        # A session made at the till is nobody outside it.
        signed_in = caller.user is not None and not caller.at_till
        return "open" if signed_in else "login"
    if rule == SIGN_OUT:
        return "login"
    if rule == CASHIER:
        # Signed in at the till, or a staff member (signed in to the admin) who is a cashier.
        if caller.is_cashier and (caller.at_till or caller.is_staff):
            return "open"
        return "refused" if caller.is_staff else "login"
    raise AssertionError(rule)


def test_every_url_answers_each_caller_by_its_rule_and_no_get_changes_anything(world, callers):
    wrong = []
    before = database_fingerprint()
    for name, (rule, method) in URL_RULES.items():
        if rule == API:
            continue
        url = site_url(name)
        # A GET is knocked on twice: as is, and with the parameters views read (a GET that
        # looks someone up, or acts on a parameter, shows in the tables' fingerprint).
        urls = [url, url + QUERY] if method == "GET" else [url]
        for caller in callers:
            for knocked in urls:
                response = knock(caller.client(), method, knocked)
                expected = url_expected(caller, rule)
                if outcome(response) != expected:
                    wrong.append((caller, method, knocked, response.status_code, expected))
            # The open pixel answers its image whatever the token, by design.
            made_up = name in ("journey-click", "journey-unsubscribe")
            if made_up and response.status_code != 404:
                wrong.append((caller, url, "a made-up token must find nothing"))
    assert not wrong, "\n" + "\n".join(map(str, wrong))
    assert tables_changed_since(before) == []


# --- No GET changes anything (and a POST the sweeps take back leaves nothing either)


def database_fingerprint() -> dict[str, str]:
    """A digest of every table's rows but the sessions (signing in writes those)."""
    digests = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table == "django_session":
                continue
            cursor.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"  # noqa: E501
            )
            digests[table] = cursor.fetchone()[0]
    return digests


def tables_changed_since(before: dict[str, str]) -> list[str]:
    after = database_fingerprint()
    return sorted(table for table in before if before[table] != after.get(table))


# --- The API, by the OpenAPI schema


@pytest.fixture
def schema(client) -> dict[str, Any]:
    return yaml.safe_load(client.get("/api/schema/").content)


# The kinds of API key: none, revoked, another partner's, a key of another outlet of the
# owner, a key of the outlet that made the purchase or hold, and the owner's partner-wide key.
KEYS = ("none", "revoked", "other_partner", "other_outlet", "outlet", "partner_wide")
OK = "open"


def everyone_with_a_key(status: str = OK) -> dict[str, str]:
    """Cards and vouchers belong to the whole coalition: any valid key."""
    return {"none": "refused", "revoked": "refused"} | {kind: status for kind in KEYS[2:]}


def owner_only(outlet_scoped: bool = True) -> dict[str, str]:
    """The owner's purchases, holds and statements: another partner's are missing (404),
    and a key of one outlet sees only its outlet's."""
    return {
        "none": "refused",
        "revoked": "refused",
        "other_partner": "missing",
        "other_outlet": "missing" if outlet_scoped else "refused",
        "outlet": OK if outlet_scoped else "refused",
        "partner_wide": OK,
    }


NO_KEY_OPENS_IT = {kind: "refused" for kind in KEYS}

API_RULES: dict[str, dict[str, str]] = {
    "cards_issue": everyone_with_a_key(),
    "cards_balance": everyone_with_a_key(),
    "cards_replace": everyone_with_a_key(),
    # Nothing waits on the card: every key learns only that (a wrong card is never opened).
    "cards_confirm": everyone_with_a_key("missing"),
    "members_lookup": everyone_with_a_key(),
    "events_create": everyone_with_a_key(),
    "club_plans_list": everyone_with_a_key(),
    "club_memberships_create": everyone_with_a_key(),
    "purchases_create": everyone_with_a_key(),
    "nonmember_sales_report": everyone_with_a_key(),
    "purchases_retrieve": owner_only(),
    "purchases_refunds_create": owner_only(),
    "holds_create": everyone_with_a_key(),
    "holds_capture": owner_only(),
    "holds_void": owner_only(),
    # Statements are the partner's, not an outlet's: a key of one outlet gets 403.
    "settlements_list": owner_only(outlet_scoped=False) | {"other_partner": OK},
    "settlements_detail": owner_only(outlet_scoped=False),
    "settlements_csv": owner_only(outlet_scoped=False),
    "settlements_pdf": owner_only(outlet_scoped=False),
    "vouchers_check": everyone_with_a_key(),
    "vouchers_redeem": everyone_with_a_key(),
    # The member API opens with a member's session or token, never with a partner's key.
    "me": NO_KEY_OPENS_IT,
    "me_history": NO_KEY_OPENS_IT,
    "me_rewards": NO_KEY_OPENS_IT,
    "me_rewards_redeem": NO_KEY_OPENS_IT,
    "me_vouchers": NO_KEY_OPENS_IT,
    # Public: the password (and code) are the credentials; a key adds nothing.
    "me_token": {kind: OK for kind in KEYS},
}


def operations(schema) -> dict[str, tuple[str, str]]:
    return {
        op["operationId"]: (path, method)
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }


def test_every_api_operation_has_a_rule(schema):
    assert set(operations(schema)) == set(API_RULES)


def test_every_api_url_is_in_the_schema(schema):
    """An API view left out of the schema would have no rule above."""
    routes = {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route, namespace, name in walk(get_resolver().url_patterns)
        if namespace is None and URL_RULES.get(name, ("",))[0] == API
    }
    assert routes == set(schema["paths"])


@pytest.fixture
def keys(world) -> dict[str, APIClient]:
    operator = world["operator"]
    north = Outlet.objects.create(partner=operator, code="matrix-north", name="North")
    south = Outlet.objects.create(partner=operator, code="matrix-south", name="South")
    revoked = api_key_create(partner=operator)
    api_key_revoke(key=ApiKey.objects.get(prefix=revoked.split(".")[0]))
    raw = {
        "revoked": revoked,
        "other_partner": api_key_create(partner=PartnerFactory(code="elsewhere")),
        "other_outlet": api_key_create(partner=operator, outlet=south),
        "outlet": api_key_create(partner=operator, outlet=north),
        "partner_wide": api_key_create(partner=operator),
    }
    clients = {"none": APIClient()}
    for kind, key in raw.items():
        clients[kind] = APIClient()
        clients[kind].credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return clients


def api_outcome(response) -> str:
    if response.status_code in (401, 403):
        return "refused"
    if response.status_code == 404 and response.json().get("error") == "not_found":
        return "missing"
    return OK


class Owned:
    """Objects the north outlet's key made: a purchase, holds, a statement."""

    def __init__(self, keys, card: Card, operator: Partner) -> None:
        bought = keys["outlet"].post(
            "/api/v1/purchases/",
            {"card": card.number, "receipt_id": "MATRIX-1", "amount": "1000.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="matrix-purchase",
        )
        assert bought.status_code == 201, bought.json()
        self.purchase = bought.json()["id"]
        self.card = card.number
        self.keys = keys
        partner_statements_settle(operator, now=timezone.now())
        self.statement = Statement.objects.filter(partner=operator).first()
        assert self.statement is not None
        self.counter = 0

    def hold(self) -> int:
        self.counter += 1
        made = self.keys["outlet"].post(
            "/api/v1/holds/",
            {"card": self.card, "points": 1},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"matrix-hold-{self.counter}",
        )
        assert made.status_code == 201, made.json()
        return made.json()["id"]

    def fresh(self) -> str:
        self.counter += 1
        return f"matrix-{self.counter}"


def api_call(client: APIClient, operation: str, path: str, method: str, owned: Owned):
    """A well-formed call of `operation`, so that only the key decides the answer."""
    fresh = owned.fresh()
    values = {
        "number": owned.card,
        "purchase_id": owned.purchase,
        "hold_id": owned.hold() if operation.startswith("holds_") and "{hold_id}" in path else 0,
        "statement_id": owned.statement.pk,
        "code": "ABCDEFGHJKMN",
        "reward_id": 1,
    }
    url = path.format(**{k: v for k, v in values.items() if "{" + k + "}" in path})
    bodies = {
        "cards_issue": {"card": ean13_from_serial("200", 999_999), "phone": "+79990000000"},
        "cards_replace": {"new_card": "2000000000015", "reason": "lost"},
        "cards_confirm": {"code": "000000"},
        "events_create": {"card": owned.card, "event": "feedback"},
        "club_memberships_create": {"card": owned.card, "plan": 1},
        "purchases_create": {"card": owned.card, "receipt_id": fresh, "amount": "10.00"},
        "nonmember_sales_report": {"day": str(date.today()), "receipts": 1, "revenue": "1.00"},
        "purchases_refunds_create": {"amount": "1.00"},
        "holds_create": {"card": owned.card, "points": 1},
        "vouchers_redeem": {},
        "me_token": {"email": "customer@example.com", "password": "customer-demo-2026"},
        "me_rewards_redeem": {},
    }
    query = {"card": owned.card} if operation == "members_lookup" else None
    call = getattr(client, method)
    if method == "get":
        return call(url, query)
    return call(url, bodies.get(operation, {}), format="json", HTTP_IDEMPOTENCY_KEY=fresh)


def test_every_api_operation_answers_each_key_by_its_rule(schema, keys, world):
    owned = Owned(keys, world["card"], world["operator"])
    wrong = []
    for operation, (path, method) in sorted(operations(schema).items()):
        for kind in KEYS:
            response = api_call(keys[kind], operation, path, method, owned)
            expected = API_RULES[operation][kind]
            if api_outcome(response) != expected:
                wrong.append((operation, kind, response.status_code, expected))
    assert not wrong, "\n" + "\n".join(map(str, wrong))


def test_keys_are_the_only_way_into_the_pos_api_and_member_logins_the_only_way_into_me(schema):
    """Security schemes in the schema match: the POS and partner API asks for an API key,
    the member API for a session or token, and the token endpoint for nothing."""
    for operation, (path, method) in operations(schema).items():
        security = schema["paths"][path][method].get("security", [])
        schemes = {name for requirement in security for name in requirement}
        if operation == "me_token":
            assert schemes <= {""} or security in ([], [{}]), operation
        elif operation == "me" or operation.startswith("me_"):
            assert "ApiKey" not in schemes, operation
        else:
            assert schemes == {"ApiKey"}, operation
