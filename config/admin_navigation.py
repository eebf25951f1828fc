"""The admin's sidebar, organised by task rather than by Django app.

Each entry shows only to staff whom the page's admin lets in, so a role sees
its own work (a partner manager, the partners; support, members and cards).
"""

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# (group, [(title, Material Symbols icon, "app.model")]): shown to who may open the page.
SIDEBAR: list[tuple[Any, list[tuple[Any, str, str]]]] = [
    (
        _("Members"),
        [
            (_("Members"), "group", "members.member"),
            (_("Segments"), "label", "members.segment"),
            (_("Badges earned"), "military_tech", "loyalty.memberbadge"),
            (_("Member tiers"), "stairs", "loyalty.membertier"),
            (_("Event awards"), "celebration", "loyalty.eventaward"),
        ],
    ),
    (
        _("Cards"),
        [
            (_("Cards"), "credit_card", "members.card"),
            (_("Card batches"), "inventory_2", "members.cardbatch"),
            (_("Card imports"), "upload_file", "members.cardimport"),
            (_("Cashiers"), "point_of_sale", "members.cashier"),
            (_("Till actions"), "receipt_long", "members.tillaction"),
            (_("Card confirmations"), "verified_user", "members.cardclaim"),
        ],
    ),
    (
        _("Program"),
        [
            (_("Program settings"), "tune", "loyalty.programsettings"),
            (_("Earning rules"), "rule", "loyalty.earningrule"),
            (_("Event bonuses"), "celebration", "loyalty.eventbonus"),
            (_("Tier ladders"), "stairs", "loyalty.tierladder"),
            (_("Club plans"), "workspace_premium", "loyalty.clubplan"),
            (_("Club memberships"), "card_membership", "loyalty.clubmembership"),
            (_("Points adjustments"), "edit_note", "loyalty.pointsadjustment"),
        ],
    ),
    (
        _("Rewards"),
        [
            (_("Rewards"), "redeem", "rewards.reward"),
            (_("Vouchers"), "confirmation_number", "rewards.voucher"),
            (_("Badges"), "military_tech", "loyalty.badge"),
            (_("Roadmap"), "route", "loyalty.roadmapstep"),
        ],
    ),
    (
        _("Partners"),
        [
            (_("Partners"), "handshake", "partners.partner"),
            (_("Outlets"), "storefront", "partners.outlet"),
            (_("API keys"), "key", "partners.apikey"),
            (_("Settlement statements"), "request_quote", "partners.statement"),
            (_("Webhook endpoints"), "webhook", "partners.webhookendpoint"),
            (_("Webhook deliveries"), "outbox", "partners.webhookdelivery"),
        ],
    ),
    (
        _("Journeys"),
        [
            (_("Journeys"), "conversion_path", "loyalty.journey"),
            (_("Journey entries"), "how_to_reg", "loyalty.journeyentry"),
            (_("Messages"), "mail", "loyalty.journeymessage"),
        ],
    ),
    (
        _("Reports"),
        [
            (_("Dashboard"), "dashboard", "loyalty.dailyfigures"),
            (_("Cohorts"), "table_chart", "loyalty.cohortmonth"),
            (_("Data quality"), "fact_check", "members.dataqualityreport"),
            (_("Cashier KPIs"), "leaderboard", "members.cashierreport"),
            (_("Purchases"), "shopping_cart", "loyalty.purchase"),
            (_("Sales without a card"), "point_of_sale", "loyalty.nonmembersales"),
            (_("Ledger: transfers"), "swap_horiz", "loyalty.transfer"),
            (_("Ledger: accounts"), "account_balance", "loyalty.account"),
            (_("Ledger: lots"), "layers", "loyalty.lot"),
            (_("Partner holds"), "lock_clock", "loyalty.hold"),
            (_("Tier changes"), "trending_up", "loyalty.tierchange"),
        ],
    ),
    (
        _("Access"),
        [
            (_("Staff and users"), "person", "auth.user"),
            (_("Roles"), "admin_panel_settings", "auth.group"),
            (_("Audit trail"), "history", "admin.logentry"),
        ],
    ),
]


def _may_open(request: HttpRequest, target: str) -> bool:
    """What the page's own admin says: the link and the page never disagree."""
    model_admin = admin.site.get_model_admin(apps.get_model(target))
    return model_admin.has_view_or_change_permission(request)


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    """The groups and links this staff member may open (empty groups left out)."""
    groups = []
    for title, entries in SIDEBAR:
        items = [
            {
                "title": item_title,
                "icon": icon,
                "link": reverse(f"admin:{target.replace('.', '_')}_changelist"),
            }
            for item_title, icon, target in entries
            if _may_open(request, target)
        ]
        if items:
            groups.append({"title": title, "separator": True, "items": items})
    return groups
