"""The opt-in leaderboard: members ranked by points earned on purchases, this month and
of all time, under names they chose.

Ranking everyone on each page view would sum every opted-in member's daily
activity; a job does it every few minutes into `LeaderboardEntry`, and the
cabinet reads the top rows and the member's own.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member

from .exceptions import InvalidRequest
from .models import LeaderboardEntry

TOP = 10
NAME_MAX_LENGTH = 30  # Member.leaderboard_name

_RANK_SQL = """
    INSERT INTO loyalty_leaderboardentry (board, member_id, points, rank, computed_at)
    SELECT %s, a.member_id, SUM(a.points),
           RANK() OVER (ORDER BY SUM(a.points) DESC), %s
    FROM loyalty_memberactivity a
    JOIN members_member m ON m.id = a.member_id
    WHERE m.leaderboard_opt_in AND m.status = 'active' AND a.day >= %s
    GROUP BY a.member_id
    HAVING SUM(a.points) > 0
"""


def leaderboard_refresh(now: datetime | None = None) -> int:
    """Rank the opted-in members on both boards; returns the entries written."""
    now = now or timezone.now()
    month_start = timezone.localdate(now).replace(day=1)
    boards = [
        (LeaderboardEntry.Board.MONTH, month_start),
        (LeaderboardEntry.Board.ALL_TIME, datetime.min.date()),
    ]
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM loyalty_leaderboardentry")
        for board, since in boards:
            cursor.execute(_RANK_SQL, [board, now, since])
            written += cursor.rowcount
    return written


def leaderboard_join(member: Member, name: str) -> None:
    """Show the member on the boards under `name` (from the next refresh on)."""
    name = " ".join(name.split())
    if not name:
        raise InvalidRequest(_("Choose the name others will see."), field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequest(_("The name is too long: 30 characters at most."), field="name")
    Member.objects.filter(pk=member.pk).update(leaderboard_opt_in=True, leaderboard_name=name)


def leaderboard_leave(member: Member) -> None:
    """Off the boards at once, not at the next refresh."""
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).update(leaderboard_opt_in=False)
        LeaderboardEntry.objects.filter(member=member).delete()


@dataclass(frozen=True)
class Place:
    rank: int
    name: str
    points: int
    is_me: bool


@dataclass(frozen=True)
class Board:
    top: list[Place]
    me: Place | None  # the member's own place, also when outside the top
    computed_at: datetime | None


def leaderboard_board(board: str, member: Member) -> Board:
    """The top of a board and the member's own place on it."""
    top_rows = list(
        LeaderboardEntry.objects.filter(board=board, rank__lte=TOP)
        .order_by("rank", "member_id")
        .values_list("rank", "member__leaderboard_name", "points", "member_id", "computed_at")
    )
    top = [Place(rank, name, points, who == member.pk) for rank, name, points, who, _ in top_rows]
    mine = (
        LeaderboardEntry.objects.filter(board=board, member=member)
        .values_list("rank", "points", "computed_at")
        .first()
    )
    me = Place(mine[0], member.leaderboard_name, mine[1], True) if mine else None
    computed_at = top_rows[0][4] if top_rows else (mine[2] if mine else None)
    return Board(top=top[:TOP], me=me, computed_at=computed_at)
