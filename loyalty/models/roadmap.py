from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .badges import Badge
from .tiers import Tier


class RoadmapStep(models.Model):
    """A milestone of the members' roadmap: a tier to reach, a reward to save up for, or a
    badge to collect, in the order marketers set. Without any, the cabinet builds one."""

    class Kind(models.TextChoices):
        TIER = "tier", _("Reach a tier")
        REWARD = "reward", _("Save up for a reward")
        BADGE = "badge", _("Collect a badge")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    tier = models.ForeignKey(
        Tier, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("tier")
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        verbose_name=_("reward"),
    )
    badge = models.ForeignKey(
        Badge, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("badge")
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("roadmap step")
        verbose_name_plural = _("roadmap")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        target = self.tier or self.reward or self.badge
        return f"{self.get_kind_display()}: {target}"

    def clean(self) -> None:
        super().clean()
        chosen = {
            self.Kind.TIER: (self.tier_id, "tier", _("Choose the tier to reach.")),
            self.Kind.REWARD: (self.reward_id, "reward", _("Choose the reward.")),
            self.Kind.BADGE: (self.badge_id, "badge", _("Choose the badge.")),
        }
        if self.kind in chosen:
            target, field, message = chosen[self.Kind(self.kind)]
            if target is None:
                raise ValidationError({field: message})
        if sum(target is not None for target, _field, _message in chosen.values()) > 1:
            raise ValidationError(_("A step is one tier, one reward or one badge."))
