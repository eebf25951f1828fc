from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from partners.models import ApiKey, Outlet, Partner


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        ANONYMISED = "anonymised", _("Anonymised")

    class Source(models.TextChoices):
        POS = "pos", _("Issued at a till")
        CABINET = "cabinet", _("Self sign-up")
        IMPORT = "import", _("Legacy import")
        PARTNER = "partner", _("Partner")
        STAFF = "staff", _("Added by staff")

    # E.164; unique when present (members who signed up by email may lack one).
    # Unique through Meta.constraints, not unique=True: that would add a second,
    # LIKE-pattern index nothing queries, paid for on every insert (imports).
    # NULL, not "": members without a phone must not collide on the unique constraint.
    phone = models.CharField(_("phone"), max_length=16, null=True, blank=True)  # noqa: DJ001
    email = models.EmailField(_("email"), blank=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    consent_email = models.BooleanField(_("email consent"), default=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_push = models.BooleanField(_("push consent"), default=False)
    consents_updated_at = models.DateTimeField(_("consents updated at"), null=True, blank=True)
    # The language of messages to the member; empty: the program's default.
    language = models.CharField(
        _("language"),
        max_length=5,
        choices=settings.LANGUAGES,
        blank=True,
        default="",
        db_default="",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    # Every member's, drawn when it is made (members.services.referral_codes_draw).
    referral_code = models.CharField(_("referral code"), max_length=12)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    external_id = models.CharField(  # noqa: DJ001 (NULL when absent, unique when present)
        _("external id"),
        max_length=64,
        null=True,
        blank=True,
        help_text=_("Identifier in a legacy or partner system."),
    )
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referred by"),
        db_index=False,  # a partial index below: most members were not referred
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member",
        verbose_name=_("cabinet user"),
    )
    # The leaderboard shows only members who opted in, under the name they chose.
    # Database defaults: the legacy import inserts members in bulk SQL.
    leaderboard_opt_in = models.BooleanField(
        _("on the leaderboard"), default=False, db_default=False
    )
    leaderboard_name = models.CharField(
        _("leaderboard name"), max_length=30, blank=True, default="", db_default=""
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__startswith="+"),
                name="member_phone_is_e164",
            ),
            models.UniqueConstraint(fields=["phone"], name="member_phone_unique"),
            models.UniqueConstraint(
                fields=["referral_code"],
                condition=Q(referral_code__isnull=False),
                name="member_referral_code_unique",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="member_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["referred_by"],
                condition=Q(referred_by__isnull=False),
                name="member_referred_by_idx",
            )
        ]

    def __str__(self) -> str:
        return self.full_name or self.phone or self.email or f"#{self.pk}"


class CardBatch(models.Model):
    """Blank cards printed together: one range of numbers sent to the print shop."""

    name = models.CharField(_("name"), max_length=200)
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        related_name="card_batches",
        verbose_name=_("card owner"),
        help_text=_("The operator, or the partner of a co-branded range."),
    )
    prefix = models.CharField(
        _("number prefix"),
        max_length=8,
        validators=[
            RegexValidator(r"^[0-9]{1,8}$", _("A prefix is 1 to 8 digits.")),
        ],
    )
    size = models.PositiveIntegerField(
        _("number of cards"), validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    first_serial = models.BigIntegerField(_("first serial"))
    last_serial = models.BigIntegerField(_("last serial"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("card batch")
        verbose_name_plural = _("card batches")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["prefix", "last_serial"], name="card_batch_range_idx")]

    def __str__(self) -> str:
        return self.name


class Card(models.Model):
    class Status(models.TextChoices):
        BLANK = "blank", _("Blank")
        ISSUED = "issued", _("Issued")
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        LOST = "lost", _("Lost")
        REPLACED = "replaced", _("Replaced")

    # Statuses in which a card earns and burns points.
    USABLE = (Status.ISSUED, Status.ACTIVE)

    # Unique through Meta.constraints (no LIKE-pattern index to maintain).
    number = models.CharField(_("card number"), max_length=13)
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
        verbose_name=_("member"),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        related_name="cards",
        verbose_name=_("card owner"),
        help_text=_("The operator, or the partner of a co-branded range."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.BLANK
    )
    is_virtual = models.BooleanField(_("virtual"), default=False)
    batch = models.ForeignKey(
        CardBatch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
        verbose_name=_("batch"),
        db_index=False,  # partial indexes below: imported and virtual cards have none
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
        db_index=False,
    )
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    outlet = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued at outlet"),
        db_index=False,
    )
    # One card replaces another at most once: a unique constraint on the rows that
    # have one (a one-to-one field would index every card's NULL).
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaces",
        verbose_name=_("replaced by"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(number__regex=r"^[0-9]{13}$"), name="card_number_13_digits"
            ),
            # A blank card has no holder; an issued, active or replaced one has.
            # Blocked and lost cards may be either (a blank can be lost in print).
            models.CheckConstraint(
                condition=Q(status="blank", member__isnull=True)
                | Q(status__in=["blocked", "lost"])
                | Q(status__in=["issued", "active", "replaced"], member__isnull=False),
                name="card_holder_matches_status",
            ),
            models.UniqueConstraint(fields=["number"], name="card_number_unique"),
            models.UniqueConstraint(
                fields=["replaced_by"],
                condition=Q(replaced_by__isnull=False),
                name="card_replaced_by_unique",
            ),
        ]
        # Most cards have no batch, cashier or outlet (imports, virtual cards):
        # index only the rows that do.
        indexes = [
            models.Index(
                fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"card_{name}_idx"
            )
            for name in ("batch", "issued_by", "outlet")
        ]

    def __str__(self) -> str:
        return self.number


class Segment(models.Model):
    """A named list of members that earning rules and campaigns can target."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    members = models.ManyToManyField(
        Member, blank=True, related_name="segments", verbose_name=_("members")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CardImport(models.Model):
    """A legacy file uploaded in the admin: checked first (a dry run), imported on confirm."""

    class Status(models.TextChoices):
        CHECKING = "checking", _("Checking")
        CHECKED = "checked", _("Checked: waiting for confirmation")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")

    class OnConflict(models.TextChoices):
        SKIP = "skip", _("Skip the row")
        UPDATE = "update", _("Update the holder's name, email and birth date")
        FAIL = "fail", _("Import nothing")

    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    on_conflict = models.CharField(
        _("when a card or phone exists"),
        max_length=10,
        choices=OnConflict.choices,
        default=OnConflict.SKIP,
    )
    encoding = models.CharField(_("encoding"), max_length=20, default="auto")
    delimiter = models.CharField(_("delimiter"), max_length=10, default="auto")
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.CHECKING
    )
    check_summary = models.JSONField(_("check"), null=True, blank=True)
    import_summary = models.JSONField(_("result"), null=True, blank=True)
    report = models.FileField(_("report"), upload_to="imports/reports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("card import")
        verbose_name_plural = _("card imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.original_name


class Cashier(models.Model):
    """A staff login that works the till of one outlet, and nothing else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="cashier",
        verbose_name=_("login"),
    )
    outlet = models.ForeignKey(
        Outlet, on_delete=models.PROTECT, related_name="cashiers", verbose_name=_("outlet")
    )
    phone = models.CharField(
        _("own phone"),
        max_length=16,
        blank=True,
        help_text=_("The till refuses to credit points to a card linked to this phone."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("cashier")
        verbose_name_plural = _("cashiers")

    def __str__(self) -> str:
        return f"{self.user} · {self.outlet}"


class TillAction(models.Model):
    """The audit trail of the till: who did what, at which outlet, when."""

    class Kind(models.TextChoices):
        LOOKUP = "lookup", _("Looked up a member")
        ISSUE = "issue", _("Issued a card")
        PURCHASE = "purchase", _("Recorded a purchase")
        REFUND = "refund", _("Processed a return")
        VOUCHER = "voucher", _("Took a voucher")
        REFUSED = "refused", _("Refused")

    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="till_actions",
        verbose_name=_("cashier"),
    )
    outlet = models.ForeignKey(
        Outlet, on_delete=models.PROTECT, related_name="+", verbose_name=_("outlet")
    )
    kind = models.CharField(_("action"), max_length=20, choices=Kind.choices)
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="till_actions",
        verbose_name=_("member"),
    )
    card_number = models.CharField(_("card"), max_length=13, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("till action")
        verbose_name_plural = _("till actions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["cashier", "kind", "created_at"], name="till_action_cashier_idx")
        ]

    def __str__(self) -> str:
        return f"{self.cashier} · {self.get_kind_display()}"


class CashierReport(Cashier):
    """The cashiers' KPIs in the admin (a report, not a table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("cashier KPIs")
        verbose_name_plural = _("cashier KPIs")


class DataQualityReport(Member):
    """The data-quality audit of the member base in the admin (a report, not a table)."""

    class Meta:
        proxy = True
        verbose_name = _("data quality")
        verbose_name_plural = _("data quality")


class TextedCode(models.Model):
    """A one-time code sent to a member's phone (or else email) and typed back: the member's
    own yes to something done with their card. Kept as a digest; MAX_ATTEMPTS tries."""

    MAX_ATTEMPTS = 5

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    card_number = models.CharField(_("card number"), max_length=13)
    code_hash = models.CharField(max_length=64)
    sent_to = models.CharField(_("sent to"), max_length=100)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.card_number} → {self.sent_to}"


class CardLinkCode(TextedCode):
    """Proves that a cabinet user holds a card: sent to the card member's phone (or email),
    typed back into the cabinet."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="card_link_codes",
        verbose_name=_("cabinet user"),
    )

    class Meta:
        verbose_name = _("card link code")
        verbose_name_plural = _("card link codes")
        indexes = [models.Index(fields=["user", "created_at"], name="card_link_user_time_idx")]


class CardClaim(TextedCode):
    """A till (or a POS or partner key) asked to add a card to an existing member, or to
    move a member to a new card. Nothing happens until the member's texted code comes back:
    until then the new card stays blank and the member's cards work as before."""

    class Kind(models.TextChoices):
        ATTACH = "attach", _("Add a card to a member")
        REPLACE = "replace", _("Replace a member's card")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    old_card = models.ForeignKey(
        "Card",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("card replaced"),
    )
    # For a replacement: what the old card becomes (lost or replaced).
    reason = models.CharField(_("reason"), max_length=20, blank=True)
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
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cashier"),
    )
    # Who asked, through the API: claims are limited per key as per cashier.
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("API key"),
    )

    class Meta:
        verbose_name = _("card confirmation")
        verbose_name_plural = _("card confirmations")
        indexes = [
            models.Index(fields=["card_number", "created_at"], name="card_claim_card_time_idx"),
            models.Index(fields=["api_key", "created_at"], name="card_claim_key_time_idx"),
            models.Index(fields=["requested_by", "created_at"], name="card_claim_cashier_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="attach", old_card__isnull=True)
                | Q(kind="replace", old_card__isnull=False, reason__in=["lost", "replaced"]),
                name="card_claim_kind_matches_old_card",
            )
        ]


class CabinetPhone(models.Model):
    """The phone a cabinet login signs in with (django-allauth keeps no phones itself)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="cabinet_phone",
        verbose_name=_("cabinet user"),
    )
    phone = models.CharField(_("phone"), max_length=16, unique=True)
    verified = models.BooleanField(_("verified"), default=False)

    class Meta:
        verbose_name = _("cabinet phone")
        verbose_name_plural = _("cabinet phones")

    def __str__(self) -> str:
        return self.phone
