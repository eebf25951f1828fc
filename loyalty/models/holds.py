from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Card, Member
from partners.models import Outlet, Partner

from .ledger import Transfer


class Hold(models.Model):
    """Points a partner reserved for a purchase it has not closed yet (two-phase burn).

    Reserving moves the points from the member's available account to the
    partner's `held` account; capturing moves them on to the partner's
    `redeemed` account; voiding, or the hold running out, gives them back with
    the expiry dates they had. Each hold is resolved exactly once.
    """

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        CAPTURED = "captured", _("Captured")
        VOIDED = "voided", _("Voided")
        EXPIRED = "expired", _("Expired")

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="holds", verbose_name=_("partner")
    )
    outlet = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("outlet"),
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="holds", verbose_name=_("member")
    )
    card = models.ForeignKey(
        Card, on_delete=models.PROTECT, related_name="+", verbose_name=_("card")
    )
    points = models.PositiveIntegerField(_("points"))
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.HELD
    )
    # The expiry dates the held points had, oldest first: [[iso date or null, points], ...]
    lots_taken = models.JSONField(default=list)
    hold_transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="+", verbose_name=_("hold transfer")
    )
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="held"), name="hold_due_idx")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="hold_points_positive"),
            models.CheckConstraint(
                condition=Q(status="held", resolved_at__isnull=True)
                | (~Q(status="held") & Q(resolved_at__isnull=False)),
                name="hold_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} · {self.points} · {self.get_status_display()}"
