from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

from .common import TranslatedText, public_storage
from .tiers import Tier


class Badge(TranslatedText):
    """An achievement a member earns once, by a rule; it may come with points."""

    class Rule(models.TextChoices):
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        RECORD_RECEIPT = "record_receipt", _("Biggest receipt ever (beats the program's record)")
        RECORD_ITEMS = "record_items", _("Longest receipt ever (most items)")
        PURCHASES_IN_MONTH = "purchases_in_month", _("N purchases in a calendar month")
        FIRST_REFERRAL = "first_referral", _("First friend referred (after their first purchase)")
        FEEDBACK = "feedback", _("Feedback given")
        TIER_REACHED = "tier_reached", _("Tier reached")
        ANNIVERSARY = "anniversary", _("Anniversary: N years in the program")

    # Rules that need `count`, and what it counts.
    COUNTED = (Rule.PURCHASES_IN_MONTH, Rule.ANNIVERSARY)
    RECORDS = (Rule.RECORD_RECEIPT, Rule.RECORD_ITEMS)

    rule = models.CharField(_("rule"), max_length=30, choices=Rule.choices)
    count = models.PositiveIntegerField(
        _("count"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Purchases in a month, or years in the program."),
    )
    minimum = models.DecimalField(
        _("minimum"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_(
            "For records: the smallest receipt amount (or number of items) that can set one."
        ),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="badges",
        verbose_name=_("tier"),
        help_text=_("For 'tier reached'."),
    )
    points = models.PositiveIntegerField(
        _("points"), default=0, help_text=_("Points given with the badge (0 for none).")
    )
    image = models.ImageField(_("image"), upload_to="badges/", storage=public_storage, blank=True)
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Badges are shown in this order.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    # The program's record so far, for record rules (amount or number of items).
    record = models.DecimalField(
        _("current record"), max_digits=14, decimal_places=2, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["position", "id"]

    def clean(self) -> None:
        super().clean()
        if not any(getattr(self, f"name_{code}") for code in self.LANGUAGES):
            raise ValidationError(_("Give the badge a name in at least one language."))
        if self.rule in self.COUNTED and not self.count:
            raise ValidationError({"count": _("This rule needs a count.")})
        if self.rule == self.Rule.TIER_REACHED and self.tier_id is None:
            raise ValidationError({"tier": _("Choose the tier to reach.")})


class MemberBadge(models.Model):
    """A badge a member earned: once per member and badge."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="badges", verbose_name=_("member")
    )
    badge = models.ForeignKey(
        Badge, on_delete=models.PROTECT, related_name="holders", verbose_name=_("badge")
    )
    points = models.BigIntegerField(_("points"), default=0)
    reference = models.CharField(_("earned with"), max_length=100, blank=True)
    awarded_at = models.DateTimeField(_("earned at"), default=timezone.now)

    class Meta:
        verbose_name = _("member badge")
        verbose_name_plural = _("member badges")
        ordering = ["-awarded_at"]
        constraints = [
            models.UniqueConstraint(fields=["member", "badge"], name="badge_once_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.member} · {self.badge}"
