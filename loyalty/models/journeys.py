from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from members.models import Member

from .badges import Badge
from .common import TEXT_LANGUAGES, text_in_language


class Journey(models.Model):
    """A trigger and a sequence of steps, measured against a control group."""

    class Trigger(models.TextChoices):
        CARD_ISSUED = "card_issued", _("Card issued")
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        REGISTERED = "registered", _("Registered in the cabinet")
        NOT_REGISTERED = "not_registered", _("Not registered N days after the card was issued")
        POINTS_EXPIRING = "points_expiring", _("Points expiring within N days")
        BIRTHDAY = "birthday", _("Birthday")
        INACTIVE = "inactive", _("No purchase for N days")
        TIER_CHANGED = "tier_changed", _("Tier changed")

    # Triggers found by the daily scan rather than at the moment they happen.
    SCANNED = (Trigger.NOT_REGISTERED, Trigger.POINTS_EXPIRING, Trigger.BIRTHDAY, Trigger.INACTIVE)
    NEEDS_DAYS = (Trigger.NOT_REGISTERED, Trigger.POINTS_EXPIRING, Trigger.INACTIVE)

    name = models.CharField(_("name"), max_length=200)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    trigger_days = models.PositiveIntegerField(
        _("N days"), null=True, blank=True, help_text=_("For triggers counted in days.")
    )
    control_share = models.DecimalField(
        _("control group share"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.100"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("0.5"))],
        help_text=_(
            "The share of entrants (0 to 0.5) held out at random: they get nothing, "
            "and the report compares the others with them."
        ),
    )
    attribution_days = models.PositiveIntegerField(
        _("attribution days"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("A purchase within this many days after a message counts as its conversion."),
    )
    measure_days = models.PositiveIntegerField(
        _("measurement days"),
        default=30,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Purchases within this many days after entering are compared between the groups."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.trigger in self.NEEDS_DAYS and not self.trigger_days:
            raise ValidationError({"trigger_days": _("This trigger needs a number of days.")})


class JourneyStep(models.Model):
    """One step: after a delay, if its condition holds, one action."""

    class Condition(models.TextChoices):
        ALWAYS = "always", _("Always")
        NOT_REGISTERED = "not_registered", _("Not registered in the cabinet yet")
        NO_PURCHASE_SINCE_ENTRY = "no_purchase", _("No purchase since entering the journey")

    class Action(models.TextChoices):
        EMAIL = "email", _("Send an email")
        SMS = "sms", _("Send an SMS")
        PUSH = "push", _("Send a push notification")
        POINTS = "points", _("Award points")
        BADGE = "badge", _("Award a badge")
        OFFER = "offer", _("Issue a personal offer")

    MESSAGES = (Action.EMAIL, Action.SMS, Action.PUSH)

    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="steps", verbose_name=_("journey")
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    delay_days = models.PositiveIntegerField(
        _("day"), default=0, help_text=_("Days after entering the journey.")
    )
    condition = models.CharField(
        _("condition"), max_length=20, choices=Condition.choices, default=Condition.ALWAYS
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    subject_ru = models.CharField(_("subject (Russian)"), max_length=200, blank=True)
    subject_pl = models.CharField(_("subject (Polish)"), max_length=200, blank=True)
    text_en = models.TextField(_("text (English)"), blank=True)
    text_ru = models.TextField(_("text (Russian)"), blank=True)
    text_pl = models.TextField(_("text (Polish)"), blank=True)
    link = models.CharField(
        _("link"),
        max_length=300,
        blank=True,
        help_text=_(
            "A path such as /rewards/ or a full URL; UTM tags and click tracking are added."
        ),
    )
    points = models.PositiveIntegerField(_("points"), null=True, blank=True)
    badge = models.ForeignKey(
        Badge, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("badge")
    )
    offer_percent = models.DecimalField(
        _("offer: percent off"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    offer_days = models.PositiveIntegerField(_("offer: valid days"), null=True, blank=True)

    LANGUAGES = TEXT_LANGUAGES

    class Meta:
        verbose_name = _("journey step")
        verbose_name_plural = _("journey steps")
        ordering = ["journey", "position", "id"]

    def __str__(self) -> str:
        return f"{self.journey} · {_('day')} {self.delay_days} · {self.get_action_display()}"

    def clean(self) -> None:
        super().clean()
        if self.action in self.MESSAGES and not any(
            getattr(self, f"text_{code}") for code in self.LANGUAGES
        ):
            raise ValidationError(_("A message needs its text in at least one language."))
        if self.action == self.Action.POINTS and not self.points:
            raise ValidationError({"points": _("How many points?")})
        if self.action == self.Action.BADGE and self.badge_id is None:
            raise ValidationError({"badge": _("Choose the badge.")})
        if self.action == self.Action.OFFER and not (self.offer_percent and self.offer_days):
            raise ValidationError(_("An offer needs a percent off and the days it is valid."))

    def translated(self, field: str, language: str) -> str:
        """The text in `language`, else in the first language filled in."""
        return text_in_language(self, field, language)

    @property
    def subject(self) -> str:
        return text_in_language(self, "subject")


class JourneyEntry(models.Model):
    """A member in a journey: their group, and which step is due when."""

    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="entries", verbose_name=_("journey")
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="journey_entries", verbose_name=_("member")
    )
    # Once per journey and key: "" for once in a lifetime, the year for a birthday...
    key = models.CharField(_("key"), max_length=40, blank=True, default="")
    is_control = models.BooleanField(_("control group"), default=False)
    entered_at = models.DateTimeField(_("entered at"))
    next_position = models.PositiveIntegerField(_("next step"), default=0)
    next_due_at = models.DateTimeField(_("next step due at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey entry")
        verbose_name_plural = _("journey entries")
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "member", "key"], name="journey_entry_once_per_key"
            )
        ]
        indexes = [
            # The tick's scan: only entries with a step still to come.
            models.Index(
                fields=["next_due_at"],
                name="journey_entry_due_idx",
                condition=Q(next_due_at__isnull=False),
            ),
            models.Index(fields=["member", "entered_at"], name="journey_entry_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.journey} · {self.member_id}"


class JourneyMessage(models.Model):
    """What a step did for one entry: once per entry and step, whatever retries happen."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Sending (not confirmed)")
        SENT = "sent", _("Sent")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    entry = models.ForeignKey(
        JourneyEntry, on_delete=models.CASCADE, related_name="messages", verbose_name=_("entry")
    )
    step = models.ForeignKey(
        JourneyStep, on_delete=models.CASCADE, related_name="messages", verbose_name=_("step")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    token = models.CharField(_("tracking token"), max_length=32, unique=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey message")
        verbose_name_plural = _("journey messages")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "step"], name="journey_step_once_per_entry")
        ]

    def __str__(self) -> str:
        return f"{self.step} · {self.get_status_display()}"
