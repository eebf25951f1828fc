from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from members.exports import table_response
from members.models import Member
from members.selectors import member_by_card_or_phone
from web.admin_pages import ACTION_PAGE, PeriodForm, ReadOnlyAdmin, ReportAdmin, admin_page

from .adjustments import adjustment_approve, adjustment_reject
from .badges import badges_cache_clear
from .club import club_join
from .exceptions import LoyaltyError
from .journeys.entering import journeys_cache_clear
from .journeys.report import Difference, JourneyReport, journey_report
from .models import (
    Account,
    Badge,
    ClubMembership,
    ClubPlan,
    CohortMonth,
    DailyFigures,
    EarningRule,
    EventAward,
    EventBonus,
    Hold,
    Journey,
    JourneyEntry,
    JourneyMessage,
    JourneyStep,
    Lot,
    MemberBadge,
    MemberTier,
    NonMemberSales,
    PointsAdjustment,
    ProgramSettings,
    Purchase,
    Refund,
    RoadmapStep,
    Tier,
    TierChange,
    TierLadder,
    Transfer,
)
from .preview import rule_preview
from .program import program_settings_update
from .reports import COHORT_MONTHS, FIGURES, CohortRow, Dashboard, cohort_table, dashboard
from .selectors import earning_rules_cache_clear, event_bonuses_cache_clear
from .tiers import tier_snapshot_cache_clear


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(ModelAdmin):
    fieldsets = [
        (_("Program"), {"fields": ["currency", "point_name", "card_prefix"]}),
        (
            _("Earning"),
            {
                "fields": [
                    "earn_mode",
                    "earn_points",
                    "earn_amount",
                    "cashback_percent",
                    "rounding",
                    "pending_days",
                ]
            },
        ),
        (_("Expiry"), {"fields": ["expiry_months", "expiry_period"]}),
        (
            _("Redemption"),
            {
                "fields": [
                    "point_value",
                    "max_redeem_share",
                    "min_balance_to_redeem",
                    "refund_expired_vouchers",
                ]
            },
        ),
        (
            _("Staff"),
            {"fields": ["adjustment_approval_threshold"]},
        ),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        # Only who may change the four-eyes rule sees it as a field: a marketer who could
        # raise the threshold could then adjust points with nobody to approve them.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("loyalty.change_approval_rules"):
            fields.append("adjustment_approval_threshold")
        return fields

    def changelist_view(self, request, extra_context=None):
        # One program per deployment: the list is just its settings page.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        ProgramSettings.objects.get_or_create(id=1)
        return HttpResponseRedirect(reverse("admin:loyalty_programsettings_change", args=[1]))

    def save_model(self, request, obj, form, change):
        program_settings_update(**form.cleaned_data)


@admin.register(EarningRule)
class EarningRuleAdmin(ModelAdmin):
    list_display = [
        "name",
        "is_active",
        "action",
        "value",
        "priority",
        "stackable",
        "starts_at",
        "ends_at",
    ]
    list_filter = ["is_active", "action", "stackable"]
    search_fields = ["name", "skus", "categories"]
    filter_horizontal = ["partners", "outlets", "tiers", "segments"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "priority", "stackable"]}),
        (_("Reward"), {"fields": ["action", "value", "per_item"]}),
        (_("Caps"), {"fields": ["cap_per_receipt", "cap_per_member", "cap_period"]}),
        (_("When"), {"fields": ["starts_at", "ends_at", "weekdays", "hour_from", "hour_to"]}),
        (
            _("Where and what"),
            {"fields": ["partners", "outlets", "skus", "categories", "min_amount"]},
        ),
        (_("Who"), {"fields": ["tiers", "segments", "birthday_window_days"]}),
    ]
    actions_detail = ["what_if"]

    class PreviewForm(forms.Form):
        days = forms.IntegerField(
            label=_("Days of purchases to replay"),
            min_value=1,
            max_value=366,
            initial=30,
            widget=UnfoldAdminIntegerFieldWidget,
        )

    @action(
        description=_("What if: preview on past purchases"),
        url_path="what-if",
        permissions=["view"],
    )
    def what_if(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Replay recent purchases with this rule (active or a draft) and show what it adds."""
        rule = get_object_or_404(EarningRule, pk=object_id)
        form = self.PreviewForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid():
            preview = rule_preview(rule, days=form.cleaned_data["days"])
        context = {
            "title": _("What if: %(rule)s") % {"rule": rule.name},
            "intro": _(
                "Replays the purchases of the last days with this rule added to the active "
                "rules, and shows the points and liability it would have added. Nothing is "
                "saved: save the rule as inactive, preview it, then activate it."
            ),
            "form": form,
            "submit_label": _("Preview"),
            "back_url": reverse("admin:loyalty_earningrule_change", args=[rule.pk]),
            "preview": preview,
        }
        return admin_page(self, request, "admin/loyalty/rule_preview.html", context)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        earning_rules_cache_clear()  # the next purchase in this process sees the change

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        earning_rules_cache_clear()


@admin.register(EventBonus)
class EventBonusAdmin(ModelAdmin):
    list_display = ["event", "points", "referrer_points", "is_active"]
    list_filter = ["is_active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        event_bonuses_cache_clear()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        event_bonuses_cache_clear()


@admin.register(EventAward)
class EventAwardAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "event", "period", "points"]
    list_filter = ["event"]
    search_fields = ["member__phone", "member__full_name"]
    list_select_related = ["member"]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "member", "partner", "balance"]
    list_filter = ["kind", "partner"]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member", "partner"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "code",
        "amount",
        "debit_account",
        "credit_account",
        "purchase",
    ]
    list_filter = ["code", ("created_at", admin.DateFieldListFilter)]
    search_fields = [
        "reference",
        "purchase__receipt_id",
        "debit_account__member__phone",
        "credit_account__member__phone",
    ]
    list_select_related = [
        "debit_account__member",
        "credit_account__member",
        "purchase",
        "debit_account__partner",
        "credit_account__partner",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "amount", "remaining", "release_at", "expires_at"]
    list_select_related = ["account__member"]
    search_fields = ["account__member__phone"]


class RefundInline(TabularInline):
    model = Refund
    extra = 0
    fields = ["created_at", "amount", "points_reversed", "points_returned", "debt_booked"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt_id",
        "created_at",
        "member",
        "partner",
        "outlet",
        "amount",
        "points_earned",
        "points_redeemed",
        "refunded_amount",
    ]
    list_filter = ["partner", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["receipt_id", "card__number", "member__phone"]
    list_select_related = ["member", "partner", "outlet"]
    date_hierarchy = "created_at"
    inlines = [RefundInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["receipt_id", "created_at", "partner", "outlet", "card", "member"]}),
        (_("Money"), {"fields": ["amount", "redeemed_value", "refunded_amount"]}),
        (
            _("Points"),
            {
                "fields": [
                    "points_earned",
                    "explanation",
                    "points_redeemed",
                    "points_reversed",
                    "points_returned",
                ]
            },
        ),
        (_("Items"), {"fields": ["items"]}),
    ]
    readonly_fields = ["explanation"]

    @admin.display(description=_("How the points were earned"))
    def explanation(self, obj: Purchase) -> str:
        lines = [
            format_html(
                "{}: <strong>{}</strong>", rule.get("description", ""), rule.get("points", 0)
            )
            for rule in obj.applied_rules or []
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "—"


class TierInline(StackedInline):
    model = Tier
    extra = 0
    fields = [
        ("name", "rank"),
        ("min_spend", "min_purchases", "both_required"),
        ("earn_multiplier", "discount_percent"),
        ("free_delivery", "personal_manager"),
        "description",
    ]


@admin.register(TierLadder)
class TierLadderAdmin(ModelAdmin):
    list_display = ["name", "window", "window_days", "grace_days", "is_active"]
    list_filter = ["window", "is_active"]
    inlines = [TierInline]
    fields = ["name", "window", "window_days", "grace_days", "is_active"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        tier_snapshot_cache_clear()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        tier_snapshot_cache_clear()


@admin.register(MemberTier)
class MemberTierAdmin(ReadOnlyAdmin):
    """Who holds which tier. A manual floor is set from the member's page (audited)."""

    list_display = ["member", "ladder", "tier", "since", "grace_until", "floor", "valid_until"]
    list_filter = ["ladder", "tier"]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member", "ladder", "tier", "floor"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "member",
        "ladder",
        "from_tier",
        "to_tier",
        "reason",
        "changed_by",
    ]
    list_filter = ["reason", "ladder", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["member__phone", "member__full_name", "note"]
    list_select_related = ["member", "ladder", "from_tier", "to_tier", "changed_by"]
    date_hierarchy = "created_at"


@admin.register(ClubPlan)
class ClubPlanAdmin(ModelAdmin):
    list_display = ["name", "tier", "fee", "validity_days", "is_active"]
    list_filter = ["is_active"]
    list_select_related = ["tier__ladder"]


class ClubJoinForm(forms.Form):
    member = forms.CharField(
        label=_("Card number or phone"),
        max_length=32,
        widget=UnfoldAdminTextInputWidget,
    )
    plan = forms.ModelChoiceField(
        label=_("Plan"),
        queryset=ClubPlan.objects.filter(is_active=True).select_related("tier"),
        widget=UnfoldAdminSelectWidget,
    )

    def clean_member(self) -> Member:
        try:
            return member_by_card_or_phone(self.cleaned_data["member"])[0]
        except LoyaltyError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(ClubMembership)
class ClubMembershipAdmin(ReadOnlyAdmin):
    """Memberships are added through the join form (the fee is taken), then only read."""

    list_display = ["member", "plan", "starts_at", "ends_at", "fee", "created_by", "created_at"]
    list_filter = ["plan", ("ends_at", admin.DateFieldListFilter)]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member", "plan", "created_by"]

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.add_clubmembership")

    def add_view(self, request, form_url="", extra_context=None):
        """Join or renew: find the member by card or phone, choose the plan."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ClubJoinForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                membership = club_join(
                    member_id=form.cleaned_data["member"].pk,
                    plan=form.cleaned_data["plan"],
                    by=request.user,
                )
            except LoyaltyError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    _("%(member)s is in %(plan)s until %(date)s.")
                    % {
                        "member": membership.member,
                        "plan": membership.plan,
                        "date": date_format(timezone.localtime(membership.ends_at)),
                    },
                )
                return HttpResponseRedirect(reverse("admin:loyalty_clubmembership_changelist"))
        context = {
            "title": _("Join or renew the club"),
            "intro": _(
                "Take the fee first. Renewing the same plan extends it from its current end."
            ),
            "form": form,
            "submit_label": _("Join"),
            "back_url": reverse("admin:loyalty_clubmembership_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    """Partners' reservations of points: held, then captured, voided or expired."""

    list_display = ["id", "partner", "card", "points", "status", "created_at", "expires_at"]
    list_filter = ["status", "partner", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["card__number", "member__phone", "reference"]
    list_select_related = ["partner", "card"]


@admin.register(PointsAdjustment)
class PointsAdjustmentAdmin(ReadOnlyAdmin):
    """Adjustments are made from the member's page; large ones are approved here."""

    list_display = [
        "created_at",
        "member",
        "points",
        "reason",
        "status",
        "requested_by",
        "approved_by",
    ]
    list_filter = ["status"]
    search_fields = ["member__phone", "member__full_name", "reason"]
    list_select_related = ["member", "requested_by", "approved_by"]
    actions = ["approve", "reject"]

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("loyalty.approve_pointsadjustment")

    @admin.action(description=_("Approve the selected adjustments"), permissions=["approve"])
    def approve(self, request, queryset):
        self._decide(request, queryset, adjustment_approve, _("%(count)d adjustments applied."))

    @admin.action(description=_("Reject the selected adjustments"), permissions=["approve"])
    def reject(self, request, queryset):
        self._decide(request, queryset, adjustment_reject, _("%(count)d adjustments rejected."))

    def _decide(self, request, queryset, decide, done_message) -> None:
        done = 0
        for adjustment_id in queryset.values_list("pk", flat=True):
            try:
                decide(adjustment_id=adjustment_id, by=request.user)
            except LoyaltyError as error:
                messages.error(request, f"#{adjustment_id}: {error.message}")
            else:
                done += 1
        if done:
            messages.success(request, done_message % {"count": done})


@admin.register(Badge)
class BadgeAdmin(ModelAdmin):
    list_display = ["__str__", "rule", "points", "position", "is_active", "holders_count"]
    list_filter = ["rule", "is_active"]
    list_editable = ["position", "is_active"]
    search_fields = ["name_en", "name_ru", "name_pl"]
    readonly_fields = ["record"]
    fieldsets = [
        (None, {"fields": ["rule", "count", "minimum", "tier", "points", "image"]}),
        (
            _("Names and descriptions"),
            {
                "fields": [
                    "name_en",
                    "description_en",
                    "name_ru",
                    "description_ru",
                    "name_pl",
                    "description_pl",
                ]
            },
        ),
        (_("Display"), {"fields": ["position", "is_active", "record"]}),
    ]

    @admin.display(description=_("Members holding it"))
    def holders_count(self, badge: Badge) -> int:
        return badge.holders.count()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        badges_cache_clear()

    def has_delete_permission(self, request: HttpRequest, obj: Badge | None = None) -> bool:
        # A badge members hold is history: switch it off instead.
        return super().has_delete_permission(request, obj) and not (obj and obj.holders.exists())


@admin.register(MemberBadge)
class MemberBadgeAdmin(ReadOnlyAdmin):
    list_display = ["member", "badge", "points", "reference", "awarded_at"]
    list_filter = ["badge", ("awarded_at", admin.DateFieldListFilter)]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["member", "badge"]


@admin.register(RoadmapStep)
class RoadmapStepAdmin(ModelAdmin):
    """The members' roadmap in the cabinet, step by step; without steps it is automatic."""

    list_display = ["__str__", "kind", "position", "is_active"]
    list_editable = ["position", "is_active"]
    list_filter = ["kind", "is_active"]
    fields = ["kind", "tier", "reward", "badge", "position", "is_active"]


class JourneyStepInline(StackedInline):
    model = JourneyStep
    extra = 0
    fields = [
        ("position", "delay_days"),
        ("condition", "action"),
        ("subject_en", "subject_ru", "subject_pl"),
        "text_en",
        "text_ru",
        "text_pl",
        "link",
        ("points", "badge"),
        ("offer_percent", "offer_days"),
    ]


@admin.register(Journey)
class JourneyAdmin(ModelAdmin):
    list_display = ["name", "trigger", "is_active", "control_share", "entries_count"]
    list_filter = ["trigger", "is_active"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "trigger", "trigger_days", "is_active"]}),
        (_("Measurement"), {"fields": ["control_share", "measure_days", "attribution_days"]}),
    ]
    inlines = [JourneyStepInline]
    actions_detail = ["report"]

    @admin.display(description=_("Members entered"))
    def entries_count(self, journey: Journey) -> int:
        return journey.entries.count()

    def has_delete_permission(self, request: HttpRequest, obj: Journey | None = None) -> bool:
        # Its entries and messages are the report's evidence: switch it off instead.
        return super().has_delete_permission(request, obj) and not (obj and obj.entries.exists())

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        journeys_cache_clear()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        journeys_cache_clear()  # the first step's delay is part of the cached journey

    @action(description=_("Report"), url_path="report", permissions=["view"])
    def report(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        journey = get_object_or_404(Journey, pk=object_id)
        export = ReportAdmin.export_kind(request)
        if export:
            return _journey_report_export(journey, journey_report(journey), export)
        context = {
            "title": _("Journey report: %(name)s") % {"name": journey.name},
            "journey": journey,
            "report": journey_report(journey),
            "back_url": reverse("admin:loyalty_journey_change", args=[journey.pk]),
        }
        return admin_page(self, request, "admin/loyalty/journey_report.html", context)


def _journey_report_export(journey: Journey, report: JourneyReport, kind: str) -> HttpResponseBase:
    header = [
        str(_("Figure")),
        str(_("Treated")),
        str(_("Control")),
        str(_("Difference")),
        str(_("Interval (95 percent)")),
    ]
    treated, control = report.treated, report.control

    def line(label: str, t: float, c: float, difference: Difference | None) -> list[Any]:
        if difference is None:
            return [label, round(t, 4), round(c, 4), None, None]
        interval = f"{difference.low:.4f} … {difference.high:.4f}"
        return [label, round(t, 4), round(c, 4), round(difference.value, 4), interval]

    rows = [
        [str(_("Members")), treated.members, control.members, None, None],
        line(
            str(_("Bought at least once")),
            treated.buyers.mean,
            control.buyers.mean,
            report.conversion,
        ),
        line(
            str(_("Purchases per member")),
            treated.purchases.mean,
            control.purchases.mean,
            report.frequency,
        ),
        line(
            str(_("Revenue per member")),
            treated.revenue.mean,
            control.revenue.mean,
            report.revenue,
        ),
        [str(_("Messages sent")), report.messages.sent, None, None, None],
        [str(_("Opened")), report.messages.opened, None, None, None],
        [str(_("Clicked")), report.messages.clicked, None, None, None],
        [str(_("Followed by a purchase")), report.messages.converted, None, None, None],
    ]
    return table_response(f"journey-{journey.pk}-report", kind, header, rows)


@admin.register(JourneyEntry)
class JourneyEntryAdmin(ReadOnlyAdmin):
    list_display = ["journey", "member", "is_control", "entered_at", "next_due_at", "finished_at"]
    list_filter = ["journey", "is_control", ("entered_at", admin.DateFieldListFilter)]
    search_fields = ["member__phone", "member__full_name", "member__cards__number"]
    list_select_related = ["journey", "member"]


@admin.register(JourneyMessage)
class JourneyMessageAdmin(ReadOnlyAdmin):
    list_display = ["step", "entry", "status", "detail", "sent_at", "opened_at", "clicked_at"]
    list_filter = ["status", "step__journey", "step__action"]
    list_select_related = ["step__journey", "entry__member"]


@admin.register(DailyFigures)
class DashboardAdmin(ReportAdmin):
    """The marketers' dashboard (the daily rollup is its data, not a table to browse)."""

    report_permission = "loyalty.view_reports"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        today = timezone.localdate()
        form = PeriodForm(request.GET or {"start": today - timedelta(days=29), "end": today})
        board = None
        if form.is_valid():
            board = dashboard(form.cleaned_data["start"], form.cleaned_data["end"], today=today)
            export = self.export_kind(request)
            if export:
                return _dashboard_export(board, export)
        context = {
            "title": _("Dashboard"),
            "form": form,
            "board": board,
            "chart_data": _chart_data(board) if board else None,
            "query": request.GET.urlencode(),
        }
        return admin_page(self, request, "admin/loyalty/dashboard.html", context)


def _chart_data(board: Dashboard) -> dict[str, Any]:
    """The series the charts draw, and their labels in the reader's language."""
    days = [row.day.isoformat() for row in board.series]
    return {
        "days": days,
        "purchases": [row.purchases for row in board.series],
        "revenue": [float(row.revenue) for row in board.series],
        "new_members": [row.new_members for row in board.series],
        "issued": [row.points_issued - row.points_reversed for row in board.series],
        "redeemed": [row.points_redeemed - row.points_returned for row in board.series],
        "expired": [row.points_expired for row in board.series],
        "tiers": {
            "labels": [name for name, _n in board.tiers],
            "values": [n for _name, n in board.tiers],
        },
        "rewards": {
            "labels": [name for name, _n in board.top_rewards],
            "values": [n for _name, n in board.top_rewards],
        },
        "labels": {
            "purchases": str(_("Purchases")),
            "revenue": str(_("Revenue")),
            "new_members": str(_("New members")),
            "issued": str(_("Points issued")),
            "redeemed": str(_("Points redeemed")),
            "expired": str(_("Points expired")),
            "members": str(_("Members")),
            "vouchers": str(_("Vouchers")),
        },
    }


def _dashboard_export(board: Dashboard, kind: str) -> HttpResponseBase:
    """The period's days as CSV or XLSX (formula-safe)."""
    header = [_field_label("day"), *(_field_label(name) for name in FIGURES)]
    rows = ([row.day, *(getattr(row, name) for name in FIGURES)] for row in board.series)
    return table_response(f"dashboard-{board.first}-{board.last}", kind, header, rows)


def _field_label(name: str) -> str:
    return str(getattr(DailyFigures._meta.get_field(name), "verbose_name", name))


@admin.register(CohortMonth)
class CohortsAdmin(ReportAdmin):
    """Retention and lifetime value by the month members joined."""

    report_permission = "loyalty.view_reports"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        today = timezone.localdate()
        year_ago = (today.replace(day=1) - timedelta(days=335)).replace(day=1)
        form = PeriodForm(request.GET or {"start": year_ago, "end": today})
        rows: list[CohortRow] = []
        if form.is_valid():
            rows = cohort_table(form.cleaned_data["start"], form.cleaned_data["end"], today=today)
            export = self.export_kind(request)
            if export:
                return _cohorts_export(rows, export)
        context = {
            "title": _("Cohorts"),
            "form": form,
            "rows": rows,
            "offsets": list(range(COHORT_MONTHS)),
            "query": request.GET.urlencode(),
        }
        return admin_page(self, request, "admin/loyalty/cohorts.html", context)


def _cohorts_export(rows: list[CohortRow], kind: str) -> HttpResponseBase:
    retention, lifetime_value = str(_("Retention")), str(_("Lifetime value"))
    header = [str(_("Cohort")), str(_("Members"))]
    header += [f"{retention} M{offset}" for offset in range(COHORT_MONTHS)]
    header += [f"{lifetime_value} M{offset}" for offset in range(COHORT_MONTHS)]
    lines = (
        [
            row.cohort.strftime("%Y-%m"),
            row.size,
            *(None if share is None else round(share, 4) for share in row.retention),
            *row.lifetime_value,
        ]
        for row in rows
    )
    return table_response("cohorts", kind, header, lines)


@admin.register(NonMemberSales)
class NonMemberSalesAdmin(ReadOnlyAdmin):
    """The tills' reported receipts without a card (`PUT /api/v1/non-member-sales/`)."""

    list_display = ["day", "partner", "outlet", "receipts", "revenue", "updated_at"]
    list_filter = ["partner", "outlet", ("day", admin.DateFieldListFilter)]
