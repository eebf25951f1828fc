from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# The operator's own brand is a partner too; migrations create it.
OPERATOR_PARTNER_CODE = "main"


class Partner(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    cobrand_multiplier = models.DecimalField(
        _("co-branded card multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1.00"))],
        help_text=_(
            "Base points earned with this partner's co-branded cards (a range it owns) "
            "are multiplied by this, wherever the member buys; 1 means no extra."
        ),
    )
    contact_name = models.CharField(_("contact person"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Outlet(models.Model):
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="outlets", verbose_name=_("partner")
    )
    code = models.SlugField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("outlet")
        verbose_name_plural = _("outlets")
        ordering = ["partner__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "code"], name="outlet_code_unique_per_partner"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A POS or partner credential. Only a SHA-256 digest of the secret is stored.

    The key shown once to its owner is `<prefix>.<secret>`; the prefix finds
    the row, the digest proves the secret. Secrets are 256-bit random, so a
    fast hash is enough (no password stretching needed).
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("partner")
    )
    outlet = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_keys",
        verbose_name=_("outlet"),
        help_text=_("Optional: restricts the key to one outlet."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.partner})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PartnerRate(models.Model):
    """What a point is worth between the operator and a partner, from a date on.

    The partner pays `issued_price` for each point it awards; the operator pays
    `redeemed_price` for each point a member spends at the partner. A new rate
    is a new row from its first day: statements of earlier days keep theirs.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="rates", verbose_name=_("partner")
    )
    valid_from = models.DateField(_("valid from"))
    issued_price = models.DecimalField(
        _("price per point issued"),
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Money the partner pays the operator for each point it awards."),
    )
    redeemed_price = models.DecimalField(
        _("price per point redeemed"),
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Money the operator pays the partner for each point spent with it."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner rate")
        verbose_name_plural = _("partner rates")
        ordering = ["partner", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "valid_from"], name="one_partner_rate_per_day"
            ),
            models.CheckConstraint(
                condition=models.Q(issued_price__gte=0, redeemed_price__gte=0),
                name="partner_rate_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} · {self.valid_from}"
