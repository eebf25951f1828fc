from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .webhook_urls import webhook_url_validate

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


class WebhookEndpoint(models.Model):
    """A partner's URL that receives signed events (Standard Webhooks headers)."""

    class Event(models.TextChoices):
        POINTS_EARNED = "points.earned", _("Points earned")
        POINTS_REDEEMED = "points.redeemed", _("Points redeemed")
        TIER_CHANGED = "tier.changed", _("Tier changed")
        HOLD_EXPIRED = "hold.expired", _("Hold expired")

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="webhooks", verbose_name=_("partner")
    )
    url = models.URLField(
        _("URL"),
        max_length=500,
        validators=[webhook_url_validate],
        help_text=_("An https:// address on the public internet. Redirects are not followed."),
    )
    events = models.JSONField(
        _("events"), default=list, help_text=_("The events sent to this URL.")
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        editable=False,
        help_text=_("The partner verifies each delivery's signature with it."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["partner", "url"]

    def __str__(self) -> str:
        return f"{self.partner} → {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it is accepted or out of retries."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    message_id = models.CharField(_("message id"), max_length=40, unique=True)
    event = models.CharField(_("event"), max_length=30, choices=WebhookEndpoint.Event.choices)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("delivery"),
    )
    attempted_at = models.DateTimeField(_("attempted at"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["attempted_at"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} · {self.status_code or self.error}"


class Statement(models.Model):
    """A partner's monthly settlement: points and money each way, from the ledger.

    An open statement is a preview that the daily job recomputes; a closed
    one is frozen. Whatever changes a closed month later (a rate entered for
    its days) appears as correction lines in the next statement closed.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open (preliminary)")
        CLOSED = "closed", _("Closed")

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="statements", verbose_name=_("partner")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month settled."))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed by refunds"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_returned = models.BigIntegerField(_("points returned by refunds"), default=0)
    points_unpriced = models.BigIntegerField(
        _("points without a rate"),
        default=0,
        help_text=_("Points of days before the partner's first rate: counted, not priced."),
    )
    due_from_partner = models.DecimalField(
        _("due from the partner"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    due_to_partner = models.DecimalField(
        _("due to the partner"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    computed_at = models.DateTimeField(_("computed at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("settlement statement")
        verbose_name_plural = _("settlement statements")
        ordering = ["-month", "partner"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "month"], name="one_statement_per_month"),
        ]

    def __str__(self) -> str:
        return f"{self.partner} · {self.month:%Y-%m}"

    @property
    def net_due_from_partner(self) -> Decimal:
        """Positive: the partner pays the operator; negative: the operator pays the partner."""
        return self.due_from_partner - self.due_to_partner


class StatementLine(models.Model):
    """One day of a statement, or a correction of a day of an earlier, closed month."""

    # What the admin and the partner API show of a line.
    SHOWN = (
        "day",
        "is_correction",
        "points_issued",
        "points_reversed",
        "points_redeemed",
        "points_returned",
        "issued_price",
        "redeemed_price",
        "due_from_partner",
        "due_to_partner",
    )

    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="lines", verbose_name=_("statement")
    )
    day = models.DateField(_("day"))
    is_correction = models.BooleanField(_("correction"), default=False)
    # Corrections hold differences, so every figure may be negative.
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_returned = models.BigIntegerField(_("points returned"), default=0)
    issued_price = models.DecimalField(
        _("price per point issued"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    redeemed_price = models.DecimalField(
        _("price per point redeemed"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    due_from_partner = models.DecimalField(
        _("due from the partner"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    due_to_partner = models.DecimalField(
        _("due to the partner"), max_digits=14, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["statement", "is_correction", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "day", "is_correction"], name="one_statement_line_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.statement} · {self.day}"
