from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Segment
from partners.models import Outlet, Partner


class EarningRule(models.Model):
    """A campaign or standing rule that adds points to purchases that match it.

    Conditions left empty do not restrict. Evaluated by `loyalty.rules`.
    """

    class Action(models.TextChoices):
        MULTIPLY = "multiply", _("Multiply base points")
        ADD_FIXED = "add_fixed", _("Add fixed points")
        PERCENT = "percent", _("Percent of the amount, as points")

    class CapPeriod(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")
        YEAR = "year", _("Year")
        EVER = "ever", _("The whole life of the rule")

    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher runs first."))
    stackable = models.BooleanField(
        _("stackable"),
        default=True,
        help_text=_("Off: exclusive. When an exclusive rule matches, only it applies."),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    value = models.DecimalField(
        _("value"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Multiplier (2 = double points), points to add, or percent."),
    )
    per_item = models.BooleanField(
        _("per item"),
        default=False,
        help_text=_("With fixed points and SKUs or categories: points per matching unit."),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    weekdays = models.JSONField(
        _("weekdays"), default=list, blank=True, help_text=_("0 = Monday … 6 = Sunday.")
    )
    hour_from = models.PositiveSmallIntegerField(
        _("from hour"), null=True, blank=True, validators=[MaxValueValidator(23)]
    )
    hour_to = models.PositiveSmallIntegerField(
        _("until hour"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(24)],
        help_text=_("Exclusive: 18 means until 17:59."),
    )
    partners = models.ManyToManyField(Partner, blank=True, verbose_name=_("partners"))
    outlets = models.ManyToManyField(Outlet, blank=True, verbose_name=_("outlets"))
    skus = models.TextField(_("SKUs"), blank=True, help_text=_("One per line."))
    categories = models.TextField(_("categories"), blank=True, help_text=_("One per line."))
    min_amount = models.DecimalField(
        _("minimum amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    cap_per_receipt = models.PositiveIntegerField(_("cap per receipt"), null=True, blank=True)
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        verbose_name=_("tiers"),
        help_text=_("Only for members holding one of these tiers."),
    )
    segments = models.ManyToManyField(
        Segment,
        blank=True,
        verbose_name=_("segments"),
        help_text=_("Only for members in one of these segments."),
    )
    birthday_window_days = models.PositiveSmallIntegerField(
        _("birthday window (days)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(31)],
        help_text=_(
            "Only within this many days before or after the member's birthday; "
            "0 means on the day itself."
        ),
    )
    cap_per_member = models.PositiveIntegerField(
        _("cap per member"),
        null=True,
        blank=True,
        help_text=_("Most points one member can get from this rule in each period."),
    )
    cap_period = models.CharField(
        _("cap period"), max_length=20, choices=CapPeriod.choices, default=CapPeriod.MONTH
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="rule_value_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The end must come after the start.")
        if (
            self.hour_from is not None
            and self.hour_to is not None
            and self.hour_to <= self.hour_from
        ):
            errors["hour_to"] = _("The end hour must come after the start hour.")
        if not all(isinstance(day, int) and 0 <= day <= 6 for day in self.weekdays or []):
            errors["weekdays"] = _("Weekdays are numbers from 0 (Monday) to 6 (Sunday).")
        if self.action == self.Action.PERCENT and self.value > 100:
            errors["value"] = _("A percent is at most 100.")
        if errors:
            raise ValidationError(errors)


class RuleUsage(models.Model):
    """Points a member got from one capped rule in one period (for caps per member)."""

    rule = models.ForeignKey(EarningRule, on_delete=models.CASCADE, related_name="usages")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=20)
    points = models.BigIntegerField(_("points"), default=0)

    class Meta:
        verbose_name = _("rule usage")
        verbose_name_plural = _("rule usages")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "rule", "period"], name="rule_usage_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} · {self.member} · {self.period}"


class EventBonus(models.Model):
    """Points for a member event (sign-up, first purchase, referral, feedback...)."""

    class Event(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        PROFILE_COMPLETED = "profile_completed", _("Profile completed")
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        REFERRAL = "referral", _("Referral (after the friend's first purchase)")
        FEEDBACK = "feedback", _("Feedback or survey answered")
        BIRTHDAY = "birthday", _("Birthday")

    # Events a POS or partner may report through the API; the others happen here.
    REPORTABLE = (Event.PROFILE_COMPLETED, Event.FEEDBACK, Event.BIRTHDAY)

    event = models.CharField(_("event"), max_length=30, choices=Event.choices, unique=True)
    points = models.PositiveIntegerField(
        _("points"), help_text=_("For a referral: the points of the friend who joined.")
    )
    referrer_points = models.PositiveIntegerField(
        _("referrer points"),
        default=0,
        help_text=_("For a referral: the points of the member who invited."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("event bonus")
        verbose_name_plural = _("event bonuses")

    def __str__(self) -> str:
        return self.get_event_display()


class EventAward(models.Model):
    """An event bonus given to a member: at most once per member, event and period."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="event_awards")
    event = models.CharField(_("event"), max_length=30, choices=EventBonus.Event.choices)
    period = models.CharField(
        _("period"), max_length=100, blank=True, help_text=_("Empty: once ever; a year; or a key.")
    )
    points = models.BigIntegerField(_("points"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("event award")
        verbose_name_plural = _("event awards")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "event", "period"], name="event_award_once_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} · {self.get_event_display()}"
