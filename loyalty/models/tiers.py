from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member
from partners.models import Partner


class TierLadder(models.Model):
    """Tiers a member climbs, qualified over one window; one tier per member per ladder.

    A program may run several ladders side by side (a status ladder on monthly
    spend, a discount ladder on lifetime spend, a paid club); the benefits of a
    member's tiers on all ladders combine, the best of each applying.
    """

    class Window(models.TextChoices):
        ROLLING_DAYS = "rolling_days", _("Rolling: the last N days")
        CALENDAR_MONTH = "calendar_month", _("The current calendar month")
        LIFETIME = "lifetime", _("Lifetime")
        CLUB = "club", _("Paid club: membership, not spend")

    QUALIFYING_WINDOWS = (Window.ROLLING_DAYS, Window.CALENDAR_MONTH, Window.LIFETIME)

    name = models.CharField(_("name"), max_length=100, unique=True)
    window = models.CharField(_("qualification window"), max_length=20, choices=Window.choices)
    window_days = models.PositiveIntegerField(
        _("window days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("For a rolling window: how many days back spend and purchases count."),
    )
    grace_days = models.PositiveIntegerField(
        _("grace days"),
        default=0,
        help_text=_(
            "A member who no longer qualifies keeps the tier this many days before moving down."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("tier ladder")
        verbose_name_plural = _("tier ladders")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(window="rolling_days") | Q(window_days__gt=0),
                name="tier_ladder_rolling_needs_days",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_club(self) -> bool:
        return self.window == self.Window.CLUB

    def clean(self) -> None:
        if self.window == self.Window.ROLLING_DAYS and not self.window_days:
            raise ValidationError({"window_days": _("A rolling window needs a number of days.")})


class Tier(models.Model):
    """A step of a ladder: what qualifies for it and what it gives."""

    ladder = models.ForeignKey(
        TierLadder, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("ladder")
    )
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(
        _("rank"),
        help_text=_("Higher is better; a member holds the highest tier they qualify for."),
    )
    min_spend = models.DecimalField(
        _("minimum spend"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Spend over the ladder's window, net of refunds."),
    )
    min_purchases = models.PositiveIntegerField(
        _("minimum purchases"), null=True, blank=True, help_text=_("Purchases over the window.")
    )
    both_required = models.BooleanField(
        _("both required"),
        default=True,
        help_text=_("With a spend and a purchase count: on, both must be met; off, either."),
    )
    earn_multiplier = models.DecimalField(
        _("earn multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("Base points are multiplied by this (1.5 = half as many again)."),
    )
    discount_percent = models.DecimalField(
        _("discount percent"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("The discount the till gives; returned by the purchase and lookup API."),
    )
    free_delivery = models.BooleanField(_("free delivery"), default=False)
    personal_manager = models.BooleanField(_("personal manager"), default=False)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["ladder", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["ladder", "rank"], name="tier_rank_once_per_ladder"),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gte=1), name="tier_multiplier_at_least_1"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0, discount_percent__lte=100),
                name="tier_discount_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ladder.name}: {self.name}" if self.ladder_id else self.name

    def clean(self) -> None:
        # In the admin's inline the ladder may not be saved yet: read the object, not the id.
        try:
            ladder = self.ladder
        except Tier.ladder.RelatedObjectDoesNotExist:
            return
        club = ladder.is_club
        has_threshold = self.min_spend is not None or self.min_purchases is not None
        if club and has_threshold:
            raise ValidationError(
                _("A club tier is held by paying the fee; leave spend and purchases empty.")
            )
        if not club and not has_threshold:
            raise ValidationError(_("Set a minimum spend, a minimum number of purchases, or both."))


class MemberTier(models.Model):
    """The tier a member holds on one ladder, with the grace and floor that keep it."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="tiers", verbose_name=_("member")
    )
    ladder = models.ForeignKey(
        TierLadder, on_delete=models.CASCADE, related_name="+", verbose_name=_("ladder")
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="holders", verbose_name=_("tier")
    )
    since = models.DateTimeField(_("since"), default=timezone.now)
    grace_until = models.DateTimeField(
        _("kept until"),
        null=True,
        blank=True,
        help_text=_("The member no longer qualifies and moves down after this moment."),
    )
    floor = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("manual floor"),
        help_text=_("Set by staff: the member never drops below this tier."),
    )
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("For a club tier: the paid period.")
    )

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")
        constraints = [
            models.UniqueConstraint(fields=["member", "ladder"], name="one_tier_per_member_ladder")
        ]
        indexes = [
            models.Index(
                fields=["valid_until", "id"],
                condition=Q(valid_until__isnull=False),
                name="member_tier_valid_until_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member} · {self.tier}"


class TierChange(models.Model):
    """The audit trail of a member's tiers: every move up or down, and who made it."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        DOWNGRADED = "downgraded", _("No longer qualifies")
        FLOOR_SET = "floor_set", _("Manual floor set by staff")
        FLOOR_REMOVED = "floor_removed", _("Manual floor removed by staff")
        CLUB_JOINED = "club_joined", _("Joined or renewed the club")
        CLUB_EXPIRED = "club_expired", _("Club membership expired")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="tier_changes", verbose_name=_("member")
    )
    ladder = models.ForeignKey(
        TierLadder, on_delete=models.CASCADE, related_name="+", verbose_name=_("ladder")
    )
    from_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("from")
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("to")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "created_at"], name="tier_change_member_idx")]

    def __str__(self) -> str:
        return f"{self.member}: {self.from_tier or '—'} → {self.to_tier or '—'}"


class MemberActivity(models.Model):
    """A member's spend, purchase count and points earned on one day: the counters tiers
    qualify on and the leaderboard ranks by.

    Incremented by each purchase and decremented by refunds, so a tier check
    sums a few rows instead of scanning the member's purchases.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    day = models.DateField(_("day"))
    # Wider than a receipt: a day's receipts add up (MAX_RECEIPT_AMOUNT keeps them far apart).
    spend = models.DecimalField(_("spend"), max_digits=18, decimal_places=2, default=Decimal("0"))
    purchases = models.IntegerField(_("purchases"), default=0)
    # Points earned on the day's purchases, net of refunds: what the leaderboard ranks.
    points = models.BigIntegerField(_("points earned"), default=0)

    class Meta:
        verbose_name = _("member activity")
        verbose_name_plural = _("member activity")
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="member_activity_once_per_day")
        ]
        # The dashboard counts members active in a period (an index-only scan).
        indexes = [models.Index(fields=["day", "member"], name="member_activity_day_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.day}: {self.spend} / {self.purchases}"


class ClubPlan(models.Model):
    """A paid club: the fee buys a club tier's benefits for a validity period."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        related_name="club_plans",
        verbose_name=_("tier"),
        limit_choices_to={"ladder__window": TierLadder.Window.CLUB},
        help_text=_("The benefits members of this plan get: a tier on a club ladder."),
    )
    fee = models.DecimalField(
        _("fee"), max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    validity_days = models.PositiveIntegerField(
        _("validity (days)"), validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("open for joining"), default=True)

    class Meta:
        verbose_name = _("club plan")
        verbose_name_plural = _("club plans")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(fee__gte=0), name="club_fee_not_negative"),
            models.CheckConstraint(condition=Q(validity_days__gt=0), name="club_validity_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.tier_id and not self.tier.ladder.is_club:
            raise ValidationError({"tier": _("Choose a tier of a club ladder.")})


class ClubMembership(models.Model):
    """One paid period of a member's club membership (joining or renewing)."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="club_memberships", verbose_name=_("member")
    )
    plan = models.ForeignKey(
        ClubPlan, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("plan")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    fee = models.DecimalField(_("fee paid"), max_digits=14, decimal_places=2)
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("club membership")
        verbose_name_plural = _("club memberships")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="club_membership_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["member", "ends_at"], name="club_membership_member_idx")]

    def __str__(self) -> str:
        return f"{self.member} · {self.plan}"
