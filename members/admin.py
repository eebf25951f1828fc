import csv
import io
import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from allauth.account.admin import EmailAddressAdmin
from allauth.account.models import EmailAddress
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminFileFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from loyalty.adjustments import adjustment_request
from loyalty.admin_pages import ACTION_PAGE, PeriodForm, ReadOnlyAdmin, ReportAdmin, admin_page
from loyalty.exceptions import LoyaltyError
from loyalty.models import MemberTier, Tier, TierLadder
from loyalty.program import program_settings
from loyalty.reports import days_bounds
from loyalty.selectors import member_balance
from loyalty.tiers import tier_floor_set
from partners.models import OPERATOR_PARTNER_CODE, Partner
from rewards.services import personal_offer_issue

from .auth import signed_in_user
from .ean import ean13_from_serial
from .exports import csv_response, table_response, xlsx_response
from .imports.fields import FIELDS
from .imports.jobs import card_import_confirm, card_import_upload, progress_rows
from .models import (
    Card,
    CardBatch,
    CardClaim,
    CardImport,
    Cashier,
    CashierReport,
    DataQualityReport,
    Member,
    Segment,
    TillAction,
)
from .quality import (
    GAPS,
    QualityReport,
    members_with_gap,
    members_with_shared_email,
    members_with_shared_name_and_birth_date,
    quality_report,
)
from .selectors import cashier_kpis
from .services import card_batch_create
from .tasks import card_import_check_task, card_import_run_task

admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(EmailAddress)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(EmailAddress)
class SignInEmailAdmin(EmailAddressAdmin, ModelAdmin):
    """allauth's page of sign-in emails, whose "verify" action asks for the permission to
    change them (allauth's own declares none)."""

    @admin.action(description=_("Mark the selected emails verified"), permissions=["change"])
    def make_verified(self, request: HttpRequest, queryset) -> None:
        super().make_verified(request, queryset)


@admin.register(LogEntry)
class AuditTrailAdmin(ReadOnlyAdmin):
    """Every change staff made in the admin: who, when, what (read-only). The ledger's
    adjustments and the till's actions keep their own records as well."""

    list_display = ["action_time", "user", "action_flag", "content_type", "object_repr", "summary"]
    list_filter = [
        "action_flag",
        "content_type",
        "user",
        ("action_time", admin.DateFieldListFilter),
    ]
    search_fields = ["object_repr", "change_message", "user__username"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "action_time"

    @admin.display(description=_("change"))
    def summary(self, entry: LogEntry) -> str:
        return entry.get_change_message()


class CardInline(TabularInline):
    model = Card
    fk_name = "member"
    extra = 0
    fields = ["number", "status", "partner", "issued_at", "outlet", "replaced_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


def _local_date(moment: datetime) -> str:
    return date_format(timezone.localtime(moment))


class TierFloorForm(forms.Form):
    ladder = forms.ModelChoiceField(
        label=_("Ladder"),
        queryset=TierLadder.objects.filter(is_active=True).exclude(window=TierLadder.Window.CLUB),
        widget=UnfoldAdminSelectWidget,
    )
    floor = forms.ModelChoiceField(
        label=_("Floor"),
        queryset=Tier.objects.exclude(ladder__window=TierLadder.Window.CLUB).select_related(
            "ladder"
        ),
        required=False,
        empty_label=_("No floor (remove it)"),
        widget=UnfoldAdminSelectWidget,
        help_text=_("The member never drops below this tier while the floor is set."),
    )
    note = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Kept in the audit trail with your name."),
    )


class PointsAdjustmentForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("Positive adds, negative takes away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Kept in the ledger with your name."),
    )


class PersonalOfferForm(forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("What the member and the cashier see, for example 'A discount just for you'."),
    )
    discount_percent = forms.DecimalField(
        label=_("Percent off"),
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        decimal_places=2,
        widget=UnfoldAdminDecimalFieldWidget,
    )
    discount_amount = forms.DecimalField(
        label=_("Amount off"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=14,
        decimal_places=2,
        widget=UnfoldAdminDecimalFieldWidget,
        help_text=_("Leave empty when the offer gives a percent off."),
    )
    valid_days = forms.IntegerField(
        label=_("Valid for (days)"),
        min_value=1,
        max_value=366,
        initial=14,
        widget=UnfoldAdminIntegerFieldWidget,
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if (data.get("discount_percent") is None) == (data.get("discount_amount") is None):
            raise forms.ValidationError(_("Fill in either the percent or the amount off."))
        return data


class SelectedMembersForm(forms.Form):
    """The second step of a bulk action: its own fields, and the selection carried over."""

    apply = forms.CharField(widget=forms.HiddenInput, initial="1")
    action = forms.CharField(widget=forms.HiddenInput)
    selected = forms.ModelMultipleChoiceField(
        queryset=Member.objects.all(), widget=forms.MultipleHiddenInput
    )

    def add_prefix(self, field_name):
        # The admin's action machinery reads these names from the POST.
        return ACTION_CHECKBOX_NAME if field_name == "selected" else field_name


class SegmentChoiceForm(SelectedMembersForm):
    segment = forms.ModelChoiceField(
        label=_("Segment"), queryset=Segment.objects.all(), widget=UnfoldAdminSelectWidget
    )
    field_order = ["segment"]


class BulkPointsForm(SelectedMembersForm):
    points = forms.IntegerField(
        label=_("Points"),
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("For each selected member. Positive adds, negative takes away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Kept with every adjustment, with your name."),
    )
    field_order = ["points", "reason"]


class DataQualityFilter(admin.SimpleListFilter):
    """The audit's drill-down: members with one gap, or doubled, to fix them."""

    title = _("data quality")
    parameter_name = "quality"

    def lookups(self, request, model_admin):
        return [
            *((key, label) for key, (label, _condition) in GAPS.items()),
            ("shared_email", _("Email shared with another member")),
            ("shared_name_birth", _("Same name and birth date as another member")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in GAPS:
            return queryset.filter(pk__in=members_with_gap(value).values("pk"))
        if value == "shared_email":
            return queryset.filter(pk__in=members_with_shared_email().values("pk"))
        if value == "shared_name_birth":
            return queryset.filter(pk__in=members_with_shared_name_and_birth_date().values("pk"))
        return queryset


@admin.register(Segment)
class SegmentAdmin(ModelAdmin):
    """Segments are filled from the member list (select members, then the action)."""

    list_display = ["name", "member_count", "created_at"]
    search_fields = ["name"]
    fields = ["name", "description"]

    @admin.display(description=_("Members"))
    def member_count(self, obj: Segment) -> int:
        return obj.members.count()


@admin.register(Member)
class MemberAdmin(ModelAdmin):
    list_display = ["__str__", "phone", "email", "status", "source", "created_at"]
    list_filter = [
        "status",
        "source",
        "tiers__tier",
        "segments",
        "consent_email",
        "consent_sms",
        "consent_push",
        DataQualityFilter,
    ]
    search_fields = ["phone", "email", "full_name", "cards__number", "external_id"]
    readonly_fields = ["referral_code", "created_at", "points", "held_tiers"]
    actions = ["points_award", "segment_add", "segment_remove", "export_csv", "export_xlsx"]
    BULK_POINTS_LIMIT = 5000

    EXPORT_FIELDS = [
        "id",
        "full_name",
        "phone",
        "email",
        "birth_date",
        "status",
        "source",
        "consent_email",
        "consent_sms",
        "consent_push",
        "created_at",
    ]

    def _export_rows(self, queryset):
        return queryset.values_list(*self.EXPORT_FIELDS).order_by("id").iterator(chunk_size=5000)

    @admin.action(description=_("Export selected members (CSV)"), permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response("members.csv", self.EXPORT_FIELDS, self._export_rows(queryset))

    @admin.action(description=_("Export selected members (XLSX)"), permissions=["view"])
    def export_xlsx(self, request, queryset):
        return xlsx_response("members.xlsx", self.EXPORT_FIELDS, self._export_rows(queryset))

    actions_detail = ["tier_floor", "points_adjust", "personal_offer"]
    fieldsets = [
        (None, {"fields": ["full_name", "phone", "email", "birth_date", "status", "points"]}),
        (_("Tiers"), {"fields": ["held_tiers"]}),
        (_("Consents"), {"fields": ["consent_email", "consent_sms", "consent_push"]}),
        (_("Leaderboard"), {"fields": ["leaderboard_opt_in", "leaderboard_name"]}),
        (_("Origin"), {"fields": ["source", "external_id", "referral_code", "user", "created_at"]}),
    ]
    inlines = [CardInline]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        # Members hold ledger history; they are anonymised, never deleted.
        return False

    @admin.display(description=_("Points"))
    def points(self, obj: Member) -> str:
        if obj.pk is None:
            return "—"
        balance = member_balance(obj)
        return _("%(available)d available, %(pending)d pending, %(debt)d owed") % balance

    @admin.display(description=_("Tiers held"))
    def held_tiers(self, obj: Member) -> str:
        rows = MemberTier.objects.filter(member=obj).select_related("ladder", "tier", "floor")
        lines = []
        for row in rows:
            parts = [f"{row.ladder.name}: {row.tier.name}"]
            if row.floor is not None:
                parts.append(str(_("floor %(tier)s") % {"tier": row.floor.name}))
            if row.grace_until is not None:
                parts.append(
                    str(
                        _("kept until %(date)s")
                        % {"date": date_format(timezone.localtime(row.grace_until))}
                    )
                )
            if row.valid_until is not None:
                parts.append(
                    str(
                        _("paid until %(date)s")
                        % {"date": date_format(timezone.localtime(row.valid_until))}
                    )
                )
            lines.append((" · ".join(parts),))
        return format_html_join(mark_safe("<br>"), "{}", lines) or "—"

    # Who may use the actions of a member's page (unfold calls has_<name>_permission).
    def has_tier_floor_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("loyalty.change_membertier")

    def has_points_adjust_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("loyalty.add_pointsadjustment")

    def has_personal_offer_permission(self, request: HttpRequest, object_id=None) -> bool:
        return request.user.has_perm("rewards.add_voucher")

    def has_segment_change_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.change_segment")

    @action(
        description=_("Set a tier floor"),
        url_path="tier-floor",
        permissions=["tier_floor"],
    )
    def tier_floor(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Staff keep a member on at least a tier (or lift that floor), with a reason."""
        member = get_object_or_404(Member, pk=object_id)
        form = TierFloorForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                tier_floor_set(
                    member_id=member.pk,
                    ladder=form.cleaned_data["ladder"],
                    floor=form.cleaned_data["floor"],
                    note=form.cleaned_data["note"],
                    by=request.user,
                )
            except LoyaltyError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("The tier floor was saved."))
                return HttpResponseRedirect(
                    reverse("admin:members_member_change", args=[member.pk])
                )
        context = {
            "title": _("Set a tier floor"),
            "subject": str(member),
            "intro": _(
                "A floor keeps the member on at least this tier whatever they spend, until it "
                "is removed. Every change is recorded with your name and reason."
            ),
            "form": form,
            "submit_label": _("Save"),
            "back_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    @action(
        description=_("Adjust points"),
        url_path="adjust-points",
        permissions=["points_adjust"],
    )
    def points_adjust(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A staff correction; above the program's threshold it waits for a second person."""
        member = get_object_or_404(Member, pk=object_id)
        form = PointsAdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = adjustment_request(
                    member=member,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    by=signed_in_user(request),
                )
            except LoyaltyError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if adjustment.status == adjustment.Status.APPLIED:
                    messages.success(request, _("The points were adjusted."))
                else:
                    messages.warning(
                        request,
                        _(
                            "The adjustment is above %(threshold)d points: it waits for "
                            "another staff member's approval (Points adjustments)."
                        )
                        % {"threshold": program_settings().adjustment_approval_threshold},
                    )
                return HttpResponseRedirect(
                    reverse("admin:members_member_change", args=[member.pk])
                )
        context = {
            "title": _("Adjust points"),
            "subject": f"{member} · {self.points(member)}",
            "intro": _(
                "Positive points add, negative take away. Up to %(threshold)d points apply at "
                "once; more wait for a second staff member's approval."
            )
            % {"threshold": program_settings().adjustment_approval_threshold},
            "form": form,
            "submit_label": _("Save"),
            "back_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    @action(
        description=_("Issue a personal offer"),
        url_path="personal-offer",
        permissions=["personal_offer"],
    )
    def personal_offer(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A time-limited discount for this member alone, free of points."""
        member = get_object_or_404(Member, pk=object_id)
        form = PersonalOfferForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            voucher = personal_offer_issue(
                member=member, issued_by=signed_in_user(request), **form.cleaned_data
            )
            messages.success(
                request,
                _("Personal offer %(code)s issued, valid until %(date)s.")
                % {"code": voucher.display_code, "date": _local_date(voucher.valid_until)},
            )
            return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        context = {
            "title": _("Issue a personal offer"),
            "subject": str(member),
            "intro": _(
                "The member gets a voucher code for this discount; the till takes it once, "
                "until it expires. It costs the member no points."
            ),
            "form": form,
            "submit_label": _("Issue"),
            "back_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    def _segment_action(
        self, request, queryset, *, title: str | Promise, apply
    ) -> HttpResponse | None:
        form = SegmentChoiceForm(
            request.POST if "apply" in request.POST else None,
            initial={"action": request.POST.get("action"), "selected": queryset},
        )
        if form.is_bound and form.is_valid():
            count = apply(form.cleaned_data["segment"], queryset)
            messages.success(request, _("%(count)d members updated.") % {"count": count})
            return None
        context = {
            "title": title,
            "subject": _("%(count)d members selected") % {"count": queryset.count()},
            "form": form,
            "submit_label": _("Apply"),
            "back_url": reverse("admin:members_member_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    @admin.action(
        description=_("Award points to the selected members"), permissions=["points_adjust"]
    )
    def points_award(self, request, queryset):
        """Bonus points (or a correction) for a list, with one reason: each member gets an
        adjustment; those above the approval threshold wait for a second person."""
        count = queryset.count()
        if count > self.BULK_POINTS_LIMIT:
            messages.error(
                request,
                _("Select at most %(limit)d members at a time.")
                % {"limit": self.BULK_POINTS_LIMIT},
            )
            return None
        form = BulkPointsForm(
            request.POST if "apply" in request.POST else None,
            initial={"action": request.POST.get("action"), "selected": queryset},
        )
        if form.is_bound and form.is_valid():
            by = signed_in_user(request)
            adjustments = [
                adjustment_request(
                    member=member,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    by=by,
                )
                for member in queryset.order_by("pk")
            ]
            pending = sum(1 for a in adjustments if a.status == a.Status.PENDING)
            messages.success(
                request,
                _("Members given the points: %(applied)d. Waiting for approval: %(pending)d.")
                % {"applied": len(adjustments) - pending, "pending": pending},
            )
            return None
        context = {
            "title": _("Award points to the selected members"),
            "subject": _("%(count)d members selected") % {"count": count},
            "intro": _(
                "Each member gets an adjustment with this reason and your name; one above "
                "the program's approval threshold waits for a second person."
            ),
            "form": form,
            "submit_label": _("Award"),
            "back_url": reverse("admin:members_member_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    @admin.action(description=_("Add to a segment"), permissions=["segment_change"])
    def segment_add(self, request, queryset):
        def add(segment: Segment, members) -> int:
            segment.members.add(*members)
            return len(members)

        return self._segment_action(request, queryset, title=_("Add to a segment"), apply=add)

    @admin.action(description=_("Remove from a segment"), permissions=["segment_change"])
    def segment_remove(self, request, queryset):
        def remove(segment: Segment, members) -> int:
            segment.members.remove(*members)
            return len(members)

        return self._segment_action(
            request, queryset, title=_("Remove from a segment"), apply=remove
        )


@admin.register(Card)
class CardAdmin(ModelAdmin):
    list_display = ["number", "member", "status", "partner", "batch", "issued_at", "outlet"]
    list_filter = [
        "status",
        "partner",
        "is_virtual",
        "batch",
        ("member", admin.EmptyFieldListFilter),
    ]
    search_fields = ["number", "member__phone", "member__full_name"]
    readonly_fields = ["member", "issued_by", "issued_at", "replaced_by", "batch", "created_at"]
    list_select_related = ["member", "partner", "outlet", "batch"]
    actions = ["block", "export_csv", "export_xlsx"]

    EXPORT_HEADER = ["card_number", "status", "owner", "batch", "phone", "issued_at"]

    @admin.action(description=_("Block selected cards"), permissions=["change"])
    def block(self, request, queryset):
        """Nobody earns or spends on a blocked card; the member and balance stay."""
        blocked = list(queryset.filter(status__in=Card.USABLE))
        Card.objects.filter(pk__in=[card.pk for card in blocked]).update(status=Card.Status.BLOCKED)
        for card in blocked:
            self.log_change(request, card, [{"changed": {"fields": ["status"]}}])
        messages.success(request, _("Cards blocked: %(count)d.") % {"count": len(blocked)})

    def has_delete_permission(self, request, obj=None):
        return False

    def _export_rows(self, queryset):
        return (
            queryset.values_list(
                "number", "status", "partner__code", "batch__name", "member__phone", "issued_at"
            )
            .order_by("number")
            .iterator(chunk_size=5000)
        )

    @admin.action(description=_("Export selected cards (CSV)"), permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response("cards.csv", self.EXPORT_HEADER, self._export_rows(queryset))

    @admin.action(description=_("Export selected cards (XLSX)"), permissions=["view"])
    def export_xlsx(self, request, queryset):
        return xlsx_response("cards.xlsx", self.EXPORT_HEADER, self._export_rows(queryset))


class CardBatchForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("For example the print order number."),
    )
    partner = forms.ModelChoiceField(
        label=_("Card owner"),
        queryset=Partner.objects.all(),
        widget=UnfoldAdminSelectWidget,
        help_text=_("The operator, or the partner of a co-branded range."),
    )
    # Not "prefix": that name is the form's own attribute.
    number_prefix = forms.RegexField(
        label=_("Number prefix"),
        regex=r"^[0-9]{1,8}$",
        error_messages={"invalid": _("A prefix is 1 to 8 digits.")},
        widget=UnfoldAdminTextInputWidget,
    )
    size = forms.IntegerField(
        label=_("Number of cards"),
        min_value=1,
        max_value=1_000_000,
        widget=UnfoldAdminIntegerFieldWidget,
    )


@admin.register(CardBatch)
class CardBatchAdmin(ModelAdmin):
    """Batches are created by the form (numbers allocated), then only read and exported."""

    list_display = [
        "name",
        "partner",
        "prefix",
        "size",
        "first_number",
        "last_number",
        "created_at",
    ]
    list_filter = ["partner"]
    search_fields = ["name"]
    readonly_fields = ["name", "partner", "prefix", "size", "first_serial", "last_serial"]
    actions_detail = ["numbers_csv"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("First number"))
    def first_number(self, obj: CardBatch) -> str:
        return ean13_from_serial(obj.prefix, obj.first_serial)

    @admin.display(description=_("Last number"))
    def last_number(self, obj: CardBatch) -> str:
        return ean13_from_serial(obj.prefix, obj.last_serial)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CardBatchForm(
            request.POST or None,
            initial={
                "partner": Partner.objects.filter(code=OPERATOR_PARTNER_CODE).first(),
                "number_prefix": program_settings().card_prefix,
                "size": 1000,
            },
        )
        if request.method == "POST" and form.is_valid():
            try:
                batch = card_batch_create(
                    name=form.cleaned_data["name"],
                    partner=form.cleaned_data["partner"],
                    prefix=form.cleaned_data["number_prefix"],
                    size=form.cleaned_data["size"],
                    created_by=request.user,
                )
            except LoyaltyError as error:
                field = {"prefix": "number_prefix", "size": "size"}.get(error.field or "")
                form.add_error(field, error.message)
            else:
                messages.success(
                    request,
                    _("%(count)d blank cards created, %(first)s to %(last)s.")
                    % {
                        "count": batch.size,
                        "first": self.first_number(batch),
                        "last": self.last_number(batch),
                    },
                )
                return HttpResponseRedirect(reverse("admin:members_cardbatch_changelist"))
        context = {
            "title": _("New card batch"),
            "intro": _(
                "Numbers continue from the prefix's last batch, with EAN-13 check digits; "
                "numbers already in use are skipped. Download them for the print shop "
                "from the batch's page."
            ),
            "form": form,
            "submit_label": _("Create the cards"),
            "back_url": reverse("admin:members_cardbatch_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    @action(description=_("Download numbers (CSV)"), url_path="numbers", permissions=["view"])
    def numbers_csv(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        batch = get_object_or_404(CardBatch, pk=object_id)
        numbers = batch.cards.order_by("number").values_list("number", flat=True)
        return csv_response(
            f"cards-{batch.pk}.csv",
            ["card_number"],
            ((number,) for number in numbers.iterator(chunk_size=10000)),
        )


class CardImportForm(forms.Form):
    # Unfold's own file widget: its script writes the chosen file's name into the
    # widget's placeholder, and would write it into the next text field otherwise.
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8 or Windows-1251, any usual delimiter) or XLSX."),
        widget=UnfoldAdminFileFieldWidget,
    )
    on_conflict = forms.ChoiceField(
        label=_("When a card or phone already exists"),
        choices=CardImport.OnConflict.choices,
        initial=CardImport.OnConflict.SKIP,
        widget=UnfoldAdminSelectWidget,
    )
    encoding = forms.CharField(
        label=_("Encoding"),
        initial="auto",
        max_length=20,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("auto finds UTF-8 or Windows-1251; or name one, such as cp1251."),
    )
    delimiter = forms.CharField(
        label=_("Delimiter"),
        initial="auto",
        max_length=10,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("auto finds comma, semicolon or tab; or type the character."),
    )
    mapping = forms.CharField(
        label=_("Columns"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "border rounded-default p-2 w-full"}),
        help_text=_(
            "Only for headers that are not recognised: one per line, "
            '"Header in the file=field", for example "Kartennummer=card_number".'
        ),
    )

    def clean_mapping(self) -> dict[str, str]:
        mapping = {}
        for line in self.cleaned_data["mapping"].splitlines():
            if not line.strip():
                continue
            source, separator, target = line.rpartition("=")
            if not separator or not source.strip() or target.strip() not in FIELDS:
                raise forms.ValidationError(
                    _("Write each line as Header=field, with a field among: %(fields)s.")
                    % {"fields": ", ".join(FIELDS)}
                )
            mapping[source.strip()] = target.strip()
        return mapping


@admin.register(CardImport)
class CardImportAdmin(ModelAdmin):
    """Upload a legacy file, read the check, then confirm the import."""

    list_display = ["original_name", "status", "uploaded_by", "created_at", "finished_at"]
    list_filter = ["status"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        urls = [
            path(
                "<int:import_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="members_cardimport_progress",
            ),
            path(
                "<int:import_id>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="members_cardimport_confirm",
            ),
            path(
                "<int:import_id>/report/",
                self.admin_site.admin_view(self.report_view),
                name="members_cardimport_report",
            ),
        ]
        return urls + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CardImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = card_import_upload(
                upload=form.cleaned_data["file"],
                on_conflict=form.cleaned_data["on_conflict"],
                encoding=form.cleaned_data["encoding"],
                delimiter=form.cleaned_data["delimiter"],
                mapping=form.cleaned_data["mapping"],
                by=request.user,
            )
            card_import_check_task.delay_on_commit(job.pk)
            return HttpResponseRedirect(reverse("admin:members_cardimport_change", args=[job.pk]))
        context = {
            "title": _("Import a legacy card base"),
            "intro": _(
                "The file is checked first and nothing is written: you see what would be "
                "created and which rows have problems, then confirm. The import is all or "
                "nothing; rows with problems are skipped and listed in a report."
            ),
            "form": form,
            "multipart": True,
            "submit_label": _("Upload and check"),
            "back_url": reverse("admin:members_cardimport_changelist"),
        }
        return admin_page(self, request, ACTION_PAGE, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=object_id)
        summaries = [
            (_("Check"), job.check_summary),
            (_("Result"), job.import_summary),
        ]
        running = job.status in (CardImport.Status.CHECKING, CardImport.Status.IMPORTING)
        context = {
            "title": job.original_name,
            "job": job,
            "running": running,
            "rows_read": progress_rows(job.pk),
            "summaries": [(heading, data) for heading, data in summaries if data],
            "problems": _report_head(job) if job.status == CardImport.Status.CHECKED else [],
            "progress_url": reverse("admin:members_cardimport_progress", args=[job.pk]),
            "confirm_url": reverse("admin:members_cardimport_confirm", args=[job.pk]),
            "report_url": reverse("admin:members_cardimport_report", args=[job.pk]),
            "back_url": reverse("admin:members_cardimport_changelist"),
        }
        return admin_page(self, request, "admin/members/card_import.html", context)

    def progress_view(self, request: HttpRequest, import_id: int) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=import_id)
        return JsonResponse({"status": job.status, "rows": progress_rows(job.pk)})

    def confirm_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        get_object_or_404(CardImport, pk=import_id)
        if card_import_confirm(import_id):
            card_import_run_task.delay_on_commit(import_id)
        return HttpResponseRedirect(reverse("admin:members_cardimport_change", args=[import_id]))

    def report_view(self, request: HttpRequest, import_id: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(CardImport, pk=import_id)
        if not job.report:
            raise Http404
        name = f"{Path(job.original_name).stem}-report.csv"
        return FileResponse(job.report.open("rb"), as_attachment=True, filename=name)


REPORT_PREVIEW_ROWS = 20


def _report_head(job: CardImport) -> list[dict[str, str]]:
    """The first problems of the check's report, shown before the user confirms."""
    if not job.report:
        return []
    with job.report.open("rb") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig")
        return list(itertools.islice(csv.DictReader(text), REPORT_PREVIEW_ROWS))


@admin.register(Cashier)
class CashierAdmin(ModelAdmin):
    list_display = ["user", "outlet", "phone", "is_active"]
    list_filter = ["outlet", "is_active"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "phone"]
    list_select_related = ["user", "outlet"]
    autocomplete_fields = ["user"]


@admin.register(TillAction)
class TillActionAdmin(ModelAdmin):
    """The till's audit trail: read only."""

    list_display = ["created_at", "cashier", "outlet", "kind", "member", "card_number"]
    list_filter = ["kind", "outlet", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["cashier__username", "card_number", "member__phone"]
    list_select_related = ["cashier", "outlet", "member"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CardClaim)
class CardClaimAdmin(ReadOnlyAdmin):
    """Cards added to members or replaced at a till or through a key, each waiting for (or
    done with) the member's texted code: who asked, where the code went, the tries."""

    list_display = [
        "created_at",
        "kind",
        "card_number",
        "member",
        "sent_to",
        "partner",
        "outlet",
        "attempts",
        "used_at",
    ]
    list_filter = ["kind", "partner", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["card_number", "member__phone"]
    list_select_related = ["member", "partner", "outlet"]
    date_hierarchy = "created_at"
    exclude = ["code_hash"]


@admin.register(CashierReport)
class CashierReportAdmin(ReportAdmin):
    """Cards issued per cashier and outlet, and how many of those members came back."""

    # Whoever sees the cashiers sees how their enrolments do (marketers, administrators).
    report_permission = "members.view_cashier"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        today = timezone.localdate()
        form = PeriodForm(request.GET or {"start": today - timedelta(days=89), "end": today})
        rows: list[dict[str, Any]] = []
        if form.is_valid():
            start, end = days_bounds(form.cleaned_data["start"], form.cleaned_data["end"])
            rows = cashier_kpis(start, end)
            export = self.export_kind(request)
            if export:
                return _cashier_kpis_export(rows, export)
        context = {
            "title": _("Cashier KPIs"),
            "form": form,
            "rows": rows,
            "query": request.GET.urlencode(),
            "totals": {
                "issued": sum(r["issued"] for r in rows),
                "repeat_30": sum(r["repeat_30"] for r in rows),
                "repeat_60": sum(r["repeat_60"] for r in rows),
            },
        }
        return admin_page(self, request, "admin/members/cashier_kpis.html", context)


def _cashier_kpis_export(rows: list[dict[str, Any]], kind: str) -> HttpResponseBase:
    header = [
        str(_("Cashier")),
        str(_("Outlet")),
        str(_("Cards issued")),
        str(_("Came back within 30 days")),
        str(_("Came back within 60 days")),
    ]
    lines = (
        [row["cashier"], row["outlet"], row["issued"], row["repeat_30"], row["repeat_60"]]
        for row in rows
    )
    return table_response("cashier-kpis", kind, header, lines)


@admin.register(DataQualityReport)
class DataQualityReportAdmin(ReportAdmin):
    """How complete and clean the member base is, with links to the members to fix."""

    report_permission = "members.view_member"

    def report_view(self, request: HttpRequest) -> HttpResponseBase:
        report = quality_report()
        export = self.export_kind(request)
        if export:
            return _quality_export(report, export)
        members_url = reverse("admin:members_member_changelist")
        rows = [(label, count, f"{members_url}?quality={key}") for key, label, count in report.gaps]
        rows += [
            (
                str(_("Email shared with another member")),
                report.shared_emails,
                f"{members_url}?quality=shared_email",
            ),
            (
                str(_("Same name and birth date as another member")),
                report.shared_name_and_birth_date,
                f"{members_url}?quality=shared_name_birth",
            ),
        ]
        context = {
            "title": _("Data quality"),
            "report": report,
            "rows": rows,
            "cards_url": reverse("admin:members_card_changelist") + "?member__isempty=1",
        }
        return admin_page(self, request, "admin/members/data_quality.html", context)


def _quality_export(report: QualityReport, kind: str) -> HttpResponseBase:
    header = [str(_("Check")), str(_("Members")), str(_("Share"))]
    total = report.members or 1
    rows = [[label, count, round(count / total, 4)] for _key, label, count in report.gaps]
    rows.append([str(_("Email shared with another member")), report.shared_emails, None])
    rows.append(
        [
            str(_("Same name and birth date as another member")),
            report.shared_name_and_birth_date,
            None,
        ]
    )
    rows.append(
        [
            str(_("Cards without a member (blanks lost or blocked)")),
            report.cards_without_member,
            None,
        ]
    )
    return table_response("data-quality", kind, header, rows)
