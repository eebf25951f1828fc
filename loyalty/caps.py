"""Caps per member per period on earning rules: what is left, and what a purchase used.

Read and written under the member's account lock (purchases of one member are
serialized), so two receipts at once cannot both spend the last of a cap.
"""

from datetime import datetime

from django.db import connection

from .models import RuleUsage
from .rules import AppliedRule, RuleSpec

_USAGE_ADD_SQL = (
    "INSERT INTO loyalty_ruleusage (rule_id, member_id, period, points) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (member_id, rule_id, period) "
    "DO UPDATE SET points = loyalty_ruleusage.points + excluded.points"
)


def member_caps_left(
    rules: tuple[RuleSpec, ...], member_id: int, moment: datetime
) -> dict[int, int]:
    """Points each capped rule may still give this member in the current period."""
    capped = {rule.id: rule for rule in rules if rule.cap_per_member is not None}
    if not capped:
        return {}
    used = {
        (rule_id, period): points
        for rule_id, period, points in RuleUsage.objects.filter(
            member_id=member_id, rule_id__in=capped
        ).values_list("rule_id", "period", "points")
    }
    return {
        rule_id: max(
            0, (rule.cap_per_member or 0) - used.get((rule_id, rule.cap_period_key(moment)), 0)
        )
        for rule_id, rule in capped.items()
    }


def member_caps_use(
    applied: list[AppliedRule], rules: tuple[RuleSpec, ...], member_id: int, moment: datetime
) -> None:
    """Count the points capped rules gave on this purchase against the member's caps."""
    capped = {rule.id: rule for rule in rules if rule.cap_per_member is not None}
    with connection.cursor() as cursor:
        for result in applied:
            rule = capped.get(result.rule_id)
            if rule is None:
                continue
            cursor.execute(
                _USAGE_ADD_SQL,
                [rule.id, member_id, rule.cap_period_key(moment), result.points],
            )
