"""The member list and page: its filters (data quality among them), exports and bulk actions
(points, segments), the page's own actions (tier floor, points adjustment, personal offer),
and the segments members are put in."""

from datetime import datetime
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from loyalty.adjustments import adjustment_request
from loyalty.exceptions import LoyaltyError
from loyalty.models import MemberTier, Tier, TierLadder
from loyalty.program import program_settings
from loyalty.selectors import member_balance
from loyalty.tiers import tier_floor_set
from rewards.services import personal_offer_issue
from web.admin_pages import ACTION_PAGE, admin_page

from ..auth import signed_in_user
from ..exports import csv_response, xlsx_response
from ..models import Card, Member, Segment
from ..quality import (
    GAPS,
    members_with_gap,
    members_with_shared_email,
    members_with_shared_name_and_birth_date,
)


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
