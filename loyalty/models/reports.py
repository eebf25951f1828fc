from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partners.models import Outlet, Partner


class DailyFigures(models.Model):
    """The program's figures of one day (program time zone), kept by a job so that the
    dashboard sums a few hundred rows instead of millions of transfers and purchases."""

    day = models.DateField(_("day"), unique=True)
    new_members = models.PositiveIntegerField(_("new members"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)
    # Sums of a day's receipts: wider than one (see loyalty.program.MAX_RECEIPT_AMOUNT).
    revenue = models.DecimalField(
        _("revenue"), max_digits=20, decimal_places=2, default=0, help_text=_("Net of refunds.")
    )
    buyers = models.PositiveIntegerField(_("members who bought"), default=0)
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed by refunds"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_returned = models.BigIntegerField(_("points returned by refunds"), default=0)
    points_expired = models.BigIntegerField(_("points expired"), default=0)
    nonmember_receipts = models.PositiveIntegerField(_("receipts without a card"), default=0)
    nonmember_revenue = models.DecimalField(
        _("revenue without a card"), max_digits=20, decimal_places=2, default=0
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)


class CohortMonth(models.Model):
    """A monthly cohort's activity in one calendar month (a nightly rollup): members who
    joined in `cohort`, how many of them bought in `month`, and what they spent."""

    cohort = models.DateField(_("cohort"), help_text=_("The first day of the month they joined."))
    month = models.DateField(_("month"))
    members = models.PositiveIntegerField(_("members who bought"))
    revenue = models.DecimalField(_("revenue"), max_digits=20, decimal_places=2)

    class Meta:
        verbose_name = _("cohorts")
        verbose_name_plural = _("cohorts")
        ordering = ["cohort", "month"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month"], name="cohort_month_once")
        ]

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} → {self.month:%Y-%m}"


class ProgramSnapshot(models.Model):
    """The figures that are a state, not a sum (members, recent activity, balances), as
    the 15-minute job last counted them: the dashboard reads them instead of counting."""

    day = models.DateField(_("day"), unique=True)
    members = models.PositiveIntegerField(_("members"))
    active_30 = models.PositiveIntegerField(_("active in 30 days"))
    active_90 = models.PositiveIntegerField(_("active in 90 days"))
    liability_points = models.BigIntegerField(_("available and pending points"))
    debt_points = models.BigIntegerField(_("points owed"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("program snapshot")
        verbose_name_plural = _("program snapshots")

    def __str__(self) -> str:
        return str(self.day)


class NonMemberSales(models.Model):
    """A till's (or a partner's) totals of one day's receipts without a loyalty card, as
    its POS reports them: what members' receipts are compared with."""

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("partner")
    )
    outlet = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("outlet"),
    )
    day = models.DateField(_("day"))
    receipts = models.PositiveIntegerField(_("receipts"))
    revenue = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("sales without a card")
        verbose_name_plural = _("sales without a card")
        ordering = ["-day"]
        constraints = [
            # One report per outlet and day, and one per partner-wide key and day.
            models.UniqueConstraint(
                fields=["partner", "outlet", "day"],
                condition=Q(outlet__isnull=False),
                name="nonmember_sales_once_per_outlet_day",
            ),
            models.UniqueConstraint(
                fields=["partner", "day"],
                condition=Q(outlet__isnull=True),
                name="nonmember_sales_once_per_partner_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} · {self.day}"
