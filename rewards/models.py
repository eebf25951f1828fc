from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.models import Tier, Transfer
from loyalty.models.common import TranslatedText, public_storage
from members.models import Member
from partners.models import Outlet, Partner


class Reward(TranslatedText):
    """A catalogue item a member buys with points."""

    class Kind(models.TextChoices):
        PERCENT_DISCOUNT = "percent_discount", _("Percent discount voucher")
        FIXED_DISCOUNT = "fixed_discount", _("Fixed discount voucher")
        FREE_PRODUCT = "free_product", _("Free product")
        EVENT = "event", _("Event or early access")
        GIFT = "gift", _("Gift")
        CHARITY = "charity", _("Charity donation")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    point_cost = models.PositiveIntegerField(_("point cost"), validators=[MinValueValidator(1)])
    discount_percent = models.DecimalField(
        _("discount percent"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("For a percent discount voucher."),
    )
    discount_amount = models.DecimalField(
        _("discount amount"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("For a fixed discount voucher, in the program currency."),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Items left; empty means unlimited.")
    )
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("How many times one member may redeem it; empty means no limit."),
    )
    tiers = models.ManyToManyField(
        Tier,
        blank=True,
        related_name="rewards",
        verbose_name=_("only for tiers"),
        help_text=_("Only members holding one of these tiers may redeem it; none means everyone."),
    )
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    voucher_valid_days = models.PositiveIntegerField(
        _("voucher valid for (days)"), default=30, validators=[MinValueValidator(1)]
    )
    image = models.ImageField(_("image"), upload_to="rewards/", storage=public_storage, blank=True)
    is_active = models.BooleanField(_("shown in the catalogue"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["sort_order", "point_cost", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="percent_discount") | Q(discount_percent__isnull=False),
                name="reward_percent_voucher_has_percent",
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed_discount") | Q(discount_amount__isnull=False),
                name="reward_fixed_voucher_has_amount",
            ),
            models.CheckConstraint(condition=Q(point_cost__gt=0), name="reward_cost_positive"),
        ]


class Voucher(models.Model):
    """A code that the till accepts once: bought with points, or a personal offer."""

    class Source(models.TextChoices):
        REDEMPTION = "redemption", _("Redeemed for points")
        PERSONAL_OFFER = "personal_offer", _("Personal offer")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")

    code = models.CharField(_("code"), max_length=16, unique=True)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="vouchers", verbose_name=_("member")
    )
    reward = models.ForeignKey(
        Reward,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vouchers",
        verbose_name=_("reward"),
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    title = models.CharField(
        _("title"), max_length=200, help_text=_("What the voucher gives, as the till shows it.")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Reward.Kind.choices)
    discount_percent = models.DecimalField(
        _("discount percent"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    discount_amount = models.DecimalField(
        _("discount amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    points_spent = models.PositiveIntegerField(_("points spent"), default=0)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    issued_at = models.DateTimeField(_("issued at"))
    valid_until = models.DateTimeField(_("valid until"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    redemption_transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points debit"),
    )
    points_returned = models.PositiveIntegerField(
        _("points returned"),
        default=0,
        help_text=_("Given back when the voucher expired unused, if the program says so."),
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used at partner"),
    )
    used_outlet = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used at outlet"),
    )
    used_receipt_id = models.CharField(_("receipt"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-issued_at"]
        indexes = [
            models.Index(fields=["member", "status"], name="voucher_member_status_idx"),
            models.Index(
                fields=["valid_until"],
                condition=Q(status="active"),
                name="voucher_active_expiry_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False),
                name="voucher_used_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(source="redemption")
                | Q(reward__isnull=False, redemption_transfer__isnull=False),
                name="voucher_redemption_has_reward_and_debit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_code} · {self.title}"

    @property
    def display_code(self) -> str:
        """The code in groups of four, the way it is printed and read out."""
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))
