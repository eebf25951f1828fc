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
