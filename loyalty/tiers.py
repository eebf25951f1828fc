"""Tiers: who qualifies for what, what a member's tiers give, and the moves between them.

The decision is pure (`tier_decide` over a ladder spec and the member's
window totals); the database part keeps per-day activity counters, locks the
member's tier rows, and applies and audits the moves. Purchases and refunds
recalculate one member at once; the nightly job sweeps tier holders for the
windows that slid and the grace periods that ran out.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .cache import ProcessCache
from .exceptions import InvalidRequest
from .ledger import member_accounts_lock
from .models import MemberTier, Tier, TierChange, TierLadder

Reason = TierChange.Reason
ZERO = Decimal("0.00")
Staff = User | AnonymousUser | None  # who made a change: a signed-in staff user, or a job


def staff_user(by: Staff) -> User | None:
    return by if by is not None and by.is_authenticated else None


@dataclass(frozen=True)
class TierSpec:
    id: int
    ladder_id: int
    name: str
    rank: int
    min_spend: Decimal | None
    min_purchases: int | None
    both_required: bool
    earn_multiplier: Decimal
    discount_percent: Decimal
    free_delivery: bool
    personal_manager: bool

    def qualifies(self, spend: Decimal, purchases: int) -> bool:
        checks = []
        if self.min_spend is not None:
            checks.append(spend >= self.min_spend)
        if self.min_purchases is not None:
            checks.append(purchases >= self.min_purchases)
        if not checks:
            return False  # a club tier: held by paying, never by spending
        return all(checks) if self.both_required else any(checks)


@dataclass(frozen=True)
class LadderSpec:
    id: int
    name: str
    window: str
    window_days: int | None
    grace_days: int
    tiers: tuple[TierSpec, ...]  # highest rank first

    @property
    def qualifies_by_activity(self) -> bool:
        return self.window in TierLadder.QUALIFYING_WINDOWS

    def window_start(self, today: date) -> date | None:
        """The first day whose activity counts (None: all of it)."""
        if self.window == TierLadder.Window.CALENDAR_MONTH:
            return today.replace(day=1)
        if self.window == TierLadder.Window.ROLLING_DAYS:
            return today - timedelta(days=(self.window_days or 1) - 1)
        return None

    def qualified_tier(self, spend: Decimal, purchases: int) -> TierSpec | None:
        return next((tier for tier in self.tiers if tier.qualifies(spend, purchases)), None)


@dataclass(frozen=True)
class TierSnapshot:
    ladders: dict[int, LadderSpec]
    tiers: dict[int, TierSpec]

    @property
    def qualifying_ladders(self) -> list[LadderSpec]:
        return [ladder for ladder in self.ladders.values() if ladder.qualifies_by_activity]


def _tier_snapshot_load() -> TierSnapshot:
    ladders: dict[int, LadderSpec] = {}
    tiers: dict[int, TierSpec] = {}
    rows = Tier.objects.filter(ladder__is_active=True).select_related("ladder").order_by("-rank")
    by_ladder: dict[int, list[TierSpec]] = {}
    ladder_rows: dict[int, TierLadder] = {}
    for tier in rows:
        spec = TierSpec(
            id=tier.pk,
            ladder_id=tier.ladder_id,
            name=tier.name,
            rank=tier.rank,
            min_spend=tier.min_spend,
            min_purchases=tier.min_purchases,
            both_required=tier.both_required,
            earn_multiplier=tier.earn_multiplier,
            discount_percent=tier.discount_percent,
            free_delivery=tier.free_delivery,
            personal_manager=tier.personal_manager,
        )
        tiers[spec.id] = spec
        by_ladder.setdefault(tier.ladder_id, []).append(spec)
        ladder_rows[tier.ladder_id] = tier.ladder
    for ladder_id, ladder in ladder_rows.items():
        ladders[ladder_id] = LadderSpec(
            id=ladder.pk,
            name=ladder.name,
            window=ladder.window,
            window_days=ladder.window_days,
            grace_days=ladder.grace_days,
            tiers=tuple(by_ladder[ladder_id]),
        )
    return TierSnapshot(ladders=ladders, tiers=tiers)


_tiers_cache = ProcessCache(_tier_snapshot_load)


def tier_snapshot() -> TierSnapshot:
    """Active ladders and their tiers, cached like the earning rules (one query every 5 s)."""
    return _tiers_cache.get()


def tier_snapshot_cache_clear() -> None:
    _tiers_cache.clear()


# What a member's tiers give -------------------------------------------------


@dataclass(frozen=True)
class Benefits:
    """The combined benefits of a member's tiers: the best of each across ladders."""

    tiers: tuple[TierSpec, ...] = ()
    earn_multiplier: Decimal = Decimal("1.00")
    discount_percent: Decimal = ZERO
    free_delivery: bool = False
    personal_manager: bool = False

    @classmethod
    def of(cls, tiers: Iterable[TierSpec]) -> "Benefits":
        held = tuple(sorted(tiers, key=lambda t: (t.ladder_id, t.rank)))
        if not held:
            return cls()
        return cls(
            tiers=held,
            earn_multiplier=max(t.earn_multiplier for t in held),
            discount_percent=max(t.discount_percent for t in held),
            free_delivery=any(t.free_delivery for t in held),
            personal_manager=any(t.personal_manager for t in held),
        )

    @property
    def tier_ids(self) -> frozenset[int]:
        return frozenset(t.id for t in self.tiers)

    def status(self, snapshot: TierSnapshot) -> "MemberStatus":
        """What the member's tiers give, as the till is told."""
        return MemberStatus(
            tiers=tuple(
                HeldTier(ladder=snapshot.ladders[t.ladder_id].name, tier=t.name, rank=t.rank)
                for t in self.tiers
                if t.ladder_id in snapshot.ladders
            ),
            discount_percent=self.discount_percent,
            earn_multiplier=self.earn_multiplier,
            free_delivery=self.free_delivery,
            personal_manager=self.personal_manager,
        )


@dataclass(frozen=True)
class HeldTier:
    ladder: str
    tier: str
    rank: int


@dataclass(frozen=True)
class MemberStatus:
    """The member's tiers and the benefits they give (the best of each across ladders)."""

    tiers: tuple[HeldTier, ...]
    discount_percent: Decimal
    earn_multiplier: Decimal
    free_delivery: bool
    personal_manager: bool


def benefits_of_rows(rows: Iterable[MemberTier], snapshot: TierSnapshot) -> Benefits:
    return Benefits.of(snapshot.tiers[row.tier_id] for row in rows if row.tier_id in snapshot.tiers)


def member_benefits(member_id: int) -> Benefits:
    """A member's current benefits (a read, no lock): for lookups and the cabinet."""
    snapshot = tier_snapshot()
    if not snapshot.tiers:
        return Benefits()
    return benefits_of_rows(MemberTier.objects.filter(member_id=member_id), snapshot)


def member_status(member_id: int) -> MemberStatus:
    """A member's tiers and what they give now (a read, no lock)."""
    return member_benefits(member_id).status(tier_snapshot())


# The decision -----------------------------------------------------------------


@dataclass
class Held:
    """A member's standing on one ladder, as stored (None tier: holds nothing)."""

    tier_id: int | None = None
    grace_until: datetime | None = None
    floor_id: int | None = None


@dataclass(frozen=True)
class Move:
    """What a recalculation decided for one ladder."""

    tier_id: int | None
    grace_until: datetime | None
    reason: str | None  # None: the tier did not change


def tier_decide(
    ladder: LadderSpec,
    tiers: dict[int, TierSpec],
    held: Held,
    spend: Decimal,
    purchases: int,
    now: datetime,
) -> Move:
    """Up at once to the best tier earned (or the floor); down only after the grace period."""
    qualified = ladder.qualified_tier(spend, purchases)
    floor = tiers.get(held.floor_id) if held.floor_id else None
    candidates = [tier for tier in (qualified, floor) if tier is not None]
    target = max(candidates, key=lambda tier: tier.rank, default=None)
    current = tiers.get(held.tier_id) if held.tier_id else None
    target_rank = target.rank if target else -1
    current_rank = current.rank if current else -1
    target_id = target.id if target else None
    if target_rank > current_rank:
        return Move(target_id, None, Reason.QUALIFIED)
    if target_rank == current_rank:
        return Move(held.tier_id, None, None)
    if held.grace_until is None and ladder.grace_days:
        return Move(held.tier_id, now + timedelta(days=ladder.grace_days), None)
    if held.grace_until is not None and held.grace_until > now:
        return Move(held.tier_id, held.grace_until, None)
    return Move(target_id, None, Reason.DOWNGRADED)


# Activity counters ------------------------------------------------------------


_ACTIVITY_ADD_SQL = (
    "INSERT INTO loyalty_memberactivity (member_id, day, spend, purchases, points) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (member_id, day) DO UPDATE SET "
    "spend = loyalty_memberactivity.spend + excluded.spend, "
    "purchases = loyalty_memberactivity.purchases + excluded.purchases, "
    "points = loyalty_memberactivity.points + excluded.points"
)


def activity_add(*, member_id: int, day: date, spend: Decimal, purchases: int, points: int) -> None:
    """Add to a member's counters for a day (a purchase adds, a refund subtracts)."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVITY_ADD_SQL, [member_id, day, spend, purchases, points])


def _window_totals(
    member_ids: Sequence[int], ladders: Sequence[LadderSpec], today: date
) -> dict[int, dict[int, tuple[Decimal, int]]]:
    """Spend and purchases per member per ladder window, in one aggregate query.

    Written in SQL: on the purchase path the ORM spent longer building this
    query than the database took to answer it.
    """
    starts = sorted({ladder.window_start(today) for ladder in ladders}, key=lambda d: d or date.min)
    columns, params = [], []
    for start in starts:
        window = " FILTER (WHERE day >= %s)" if start is not None else ""
        columns.append(f"SUM(spend){window}, SUM(purchases){window}")
        params += [start, start] if start is not None else []
    members = ", ".join(["%s"] * len(member_ids))
    sql = (
        f"SELECT member_id, {', '.join(columns)} FROM loyalty_memberactivity "  # noqa: S608
        f"WHERE member_id IN ({members}) GROUP BY member_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *member_ids])
        by_member = {row[0]: row[1:] for row in cursor.fetchall()}
    totals: dict[int, dict[int, tuple[Decimal, int]]] = {}
    for member_id in member_ids:
        sums = by_member.get(member_id, (None,) * (2 * len(starts)))
        totals[member_id] = {}
        for ladder in ladders:
            index = starts.index(ladder.window_start(today))
            spend, purchases = sums[2 * index], sums[2 * index + 1]
            totals[member_id][ladder.id] = (Decimal(spend or 0), int(purchases or 0))
    return totals


# Applying moves ---------------------------------------------------------------


def member_tiers_lock(member_id: int) -> list[MemberTier]:
    """The member's tier rows, locked in id order (after the member's accounts)."""
    return list(MemberTier.objects.select_for_update().filter(member_id=member_id).order_by("id"))


def _move_apply(
    member_id: int,
    ladder: LadderSpec,
    row: MemberTier | None,
    move: Move,
    now: datetime,
    *,
    reason: str | None = None,
    by: Staff = None,
    note: str = "",
) -> TierChange | None:
    """Store a move on the member's row for the ladder; return the audit entry if the tier moved."""
    from_id = row.tier_id if row is not None else None
    if row is None:
        if move.tier_id is None:
            return None
        MemberTier.objects.create(
            member_id=member_id, ladder_id=ladder.id, tier_id=move.tier_id, since=now
        )
    elif move.tier_id is None and row.floor_id is None:
        row.delete()
    else:
        changed = move.tier_id != row.tier_id
        if changed or move.grace_until != row.grace_until or reason:
            assert move.tier_id is not None, "only a member without a floor loses the row"
            row.tier_id = move.tier_id
            row.grace_until = move.grace_until
            if changed:
                row.since = now
            row.save(update_fields=["tier", "grace_until", "since", "floor"])
    change_reason = reason or move.reason
    if change_reason is None:
        return None
    return TierChange(
        member_id=member_id,
        ladder_id=ladder.id,
        from_tier_id=from_id,
        to_tier_id=move.tier_id,
        reason=change_reason,
        note=note,
        changed_by=staff_user(by),
        created_at=now,
    )


def tier_changes_save(changes: list[TierChange]) -> None:
    """Store tier moves (the audit trail). What follows from them, badges, journeys and
    partners' webhooks, is engagement's: the caller hands the moves to
    `loyalty.tier_moves.tier_moves_announce`."""
    TierChange.objects.bulk_create(changes)


def member_tiers_recalculate(
    member_id: int, rows: list[MemberTier], now: datetime
) -> list[TierChange]:
    """Recalculate one member's tiers on every qualifying ladder, with their rows locked.

    Called by purchases and refunds after their counters are updated.
    """
    snapshot = tier_snapshot()
    ladders = snapshot.qualifying_ladders
    if not ladders:
        return []
    by_ladder = {row.ladder_id: row for row in rows}
    totals = _window_totals([member_id], ladders, timezone.localdate(now))[member_id]
    changes = []
    for ladder in ladders:
        row = by_ladder.get(ladder.id)
        held = Held(row.tier_id, row.grace_until, row.floor_id) if row else Held()
        spend, purchases = totals[ladder.id]
        move = tier_decide(ladder, snapshot.tiers, held, spend, purchases, now)
        change = _move_apply(member_id, ladder, row, move, now)
        if change is not None:
            changes.append(change)
    tier_changes_save(changes)
    return changes


@transaction.atomic
def tier_floor_set(
    *,
    member_id: int,
    ladder: TierLadder,
    floor: Tier | None,
    note: str,
    by: Staff = None,
    now: datetime | None = None,
) -> MemberTier | None:
    """Staff set (or, with None, remove) the tier a member never drops below; audited."""
    if not note.strip():
        raise InvalidRequest(_("Say why the floor is set: the note is kept in the audit trail."))
    if ladder.is_club:
        raise InvalidRequest(_("Club tiers are held by paying the fee, not by a floor."))
    if floor is not None and floor.ladder_id != ladder.pk:
        raise InvalidRequest(_("The floor must be a tier of the same ladder."))
    now = now or timezone.now()
    member_accounts_lock(member_id)  # one writer per member: accounts, then tier rows
    tier_snapshot_cache_clear()
    snapshot = tier_snapshot()
    spec = snapshot.ladders.get(ladder.pk)
    if spec is None:
        raise InvalidRequest(_("This ladder is not active."))
    row = next((r for r in member_tiers_lock(member_id) if r.ladder_id == ladder.pk), None)
    held_before = row.tier_id if row is not None else None
    if row is None:
        if floor is None:
            return None
        row = MemberTier.objects.create(
            member_id=member_id, ladder=ladder, tier=floor, floor=floor, since=now
        )
    row.floor_id = floor.pk if floor is not None else None
    totals = _window_totals([member_id], [spec], timezone.localdate(now))[member_id][ladder.pk]
    held = Held(row.tier_id, row.grace_until, row.floor_id)
    move = tier_decide(spec, snapshot.tiers, held, *totals, now)
    reason = Reason.FLOOR_SET if floor is not None else Reason.FLOOR_REMOVED
    change = _move_apply(member_id, spec, row, move, now, reason=reason, by=by, note=note)
    if change is not None:
        change.from_tier_id = held_before
        change.save()
    return MemberTier.objects.filter(member_id=member_id, ladder=ladder).first()


# The nightly sweep ------------------------------------------------------------


def tiers_sweep(
    *,
    announce: Callable[[list[TierChange]], None],
    now: datetime | None = None,
    batch_size: int = 1000,
) -> int:
    """Recalculate every tier holder on qualifying ladders; returns the tiers that moved.

    Windows slide and grace periods run out without a purchase to notice, so
    this runs nightly. Batches of holders by keyset, one short transaction and
    one aggregate query each; safe to run twice or beside purchases (rows are
    locked and re-read).
    """
    now = now or timezone.now()
    snapshot = tier_snapshot()
    ladders = {ladder.id: ladder for ladder in snapshot.qualifying_ladders}
    if not ladders:
        return 0
    today = timezone.localdate(now)
    moved = 0
    last_id = 0
    while True:
        with transaction.atomic():
            rows = list(
                MemberTier.objects.select_for_update()
                .filter(id__gt=last_id, ladder_id__in=ladders)
                .order_by("id")[:batch_size]
            )
            if not rows:
                return moved
            last_id = rows[-1].pk
            totals = _window_totals(
                sorted({row.member_id for row in rows}), list(ladders.values()), today
            )
            changes = []
            for row in rows:
                ladder = ladders[row.ladder_id]
                held = Held(row.tier_id, row.grace_until, row.floor_id)
                move = tier_decide(
                    ladder, snapshot.tiers, held, *totals[row.member_id][ladder.id], now
                )
                change = _move_apply(row.member_id, ladder, row, move, now)
                if change is not None:
                    changes.append(change)
            tier_changes_save(changes)
            announce(changes)  # in the batch's transaction, like the moves
            moved += len(changes)


# Progress, for the cabinet ------------------------------------------------------


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands on one ladder: the tier held, and the next goal.

    The goal is the next tier up, or, at the top, keeping the current one over
    the window. `missing_spend` / `missing_purchases` say what is left to do.
    """

    ladder: LadderSpec
    held: TierSpec | None
    goal: TierSpec | None
    keeping: bool
    spend: Decimal
    purchases: int
    missing_spend: Decimal | None
    missing_purchases: int | None
    percent: int


def tier_progress_towards(goal: TierSpec, spend: Decimal, purchases: int) -> tuple[int, Any, Any]:
    """Percent of the way to `goal`, and the spend and purchases still missing."""
    shares = []
    missing_spend = missing_purchases = None
    if goal.min_spend:
        shares.append(spend / goal.min_spend)
        missing_spend = max(goal.min_spend - spend, ZERO)
    if goal.min_purchases:
        shares.append(Decimal(purchases) / goal.min_purchases)
        missing_purchases = max(goal.min_purchases - purchases, 0)
    share = (min(shares) if goal.both_required else max(shares)) if shares else Decimal(1)
    return int(min(share, Decimal(1)) * 100), missing_spend, missing_purchases


def member_tier_progress(member_id: int, now: datetime) -> list[TierProgress]:
    """The member's progress on every ladder qualified by spending (two queries)."""
    snapshot = tier_snapshot()
    ladders = snapshot.qualifying_ladders
    if not ladders:
        return []
    today = timezone.localtime(now).date()
    totals = _window_totals([member_id], ladders, today)[member_id]
    held_ids = dict(
        MemberTier.objects.filter(member_id=member_id).values_list("ladder_id", "tier_id")
    )
    progress = []
    for ladder in ladders:
        spend, purchases = totals[ladder.id]
        held = snapshot.tiers.get(held_ids.get(ladder.id, 0))
        above = [t for t in ladder.tiers if held is None or t.rank > held.rank]
        goal = above[-1] if above else held
        percent, missing_spend, missing_purchases = (
            tier_progress_towards(goal, spend, purchases) if goal else (100, None, None)
        )
        progress.append(
            TierProgress(
                ladder=ladder,
                held=held,
                goal=goal,
                keeping=not above,
                spend=spend,
                purchases=purchases,
                missing_spend=missing_spend,
                missing_purchases=missing_purchases,
                percent=percent,
            )
        )
    return progress
