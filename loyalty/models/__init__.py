"""The loyalty app's models: the ledger, earning rules and event bonuses, tiers and the club,
badges, the leaderboard, the roadmap and journeys."""

from .badges import Badge, MemberBadge
from .holds import Hold
from .journeys import Journey, JourneyEntry, JourneyMessage, JourneyStep
from .leaderboard import LeaderboardEntry
from .ledger import (
    Account,
    IdempotencyRecord,
    Lot,
    PointsAdjustment,
    ProgramSettings,
    Purchase,
    Refund,
    Transfer,
)
from .reports import CohortMonth, DailyFigures, NonMemberSales, ProgramSnapshot
from .roadmap import RoadmapStep
from .rules import EarningRule, EventAward, EventBonus, RuleUsage
from .tiers import (
    ClubMembership,
    ClubPlan,
    MemberActivity,
    MemberTier,
    Tier,
    TierChange,
    TierLadder,
)

__all__ = [
    "Account",
    "Badge",
    "ClubMembership",
    "ClubPlan",
    "CohortMonth",
    "DailyFigures",
    "EarningRule",
    "EventAward",
    "EventBonus",
    "Hold",
    "IdempotencyRecord",
    "Journey",
    "JourneyEntry",
    "JourneyMessage",
    "JourneyStep",
    "LeaderboardEntry",
    "Lot",
    "MemberActivity",
    "MemberBadge",
    "MemberTier",
    "NonMemberSales",
    "PointsAdjustment",
    "ProgramSettings",
    "ProgramSnapshot",
    "Purchase",
    "Refund",
    "RoadmapStep",
    "RuleUsage",
    "Tier",
    "TierChange",
    "TierLadder",
    "Transfer",
]
