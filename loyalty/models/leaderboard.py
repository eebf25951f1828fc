from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models import Member


class LeaderboardEntry(models.Model):
    """A member's place on a board, as the refresh job last ranked it (a rollup: the
    cabinet reads a few rows instead of summing everyone's activity)."""

    class Board(models.TextChoices):
        MONTH = "month", _("This month")
        ALL_TIME = "all", _("All time")

    board = models.CharField(_("board"), max_length=10, choices=Board.choices)
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    points = models.BigIntegerField(_("points earned"))
    rank = models.PositiveIntegerField(_("rank"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("leaderboard entry")
        verbose_name_plural = _("leaderboard entries")
        constraints = [
            models.UniqueConstraint(fields=["board", "member"], name="leaderboard_once_per_board")
        ]
        indexes = [models.Index(fields=["board", "rank"], name="leaderboard_rank_idx")]

    def __str__(self) -> str:
        return f"{self.board} #{self.rank}: {self.member_id}"
