"""Template filters of the customer cabinet."""

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def rule_label(rule: dict[str, Any]) -> str:
    """An applied rule as the customer reads it: the base rate in their language
    (it is stored in English on the purchase), other rules by the name staff gave."""
    if rule.get("rule") == "base":
        return _("Base rate")
    return str(rule.get("description", ""))
