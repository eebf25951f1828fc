"""Cards: the list (block, export), batches of blank cards (created by a form, their numbers
downloaded for the print shop), and the confirmations a till or a key asked for."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from loyalty.exceptions import LoyaltyError
from loyalty.program import program_settings
from partners.models import OPERATOR_PARTNER_CODE, Partner
from web.admin_pages import ACTION_PAGE, ReadOnlyAdmin, admin_page

from ..ean import ean13_from_serial
from ..exports import csv_response, xlsx_response
from ..models import Card, CardBatch, CardClaim
from ..services import card_batch_create


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
