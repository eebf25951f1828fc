"""Staff roles: groups whose permissions are defined here and restored on every migrate.

Give a staff login one of these groups. A custom mix of permissions belongs in a
group of another name: these five are reset to what this file says.
"""

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

ALL = ("view", "add", "change", "delete")
VIEW = ("view",)

# role: {"app.model": actions}; "*" as the model means every model of the app.
ROLES: dict[str, dict[str, Iterable[str]]] = {
    "Administrator": {"*": ALL},
    "Marketer": {
        "loyalty.programsettings": ("view", "change"),
        "loyalty.earningrule": ALL,
        "loyalty.eventbonus": ALL,
        "loyalty.tierladder": ALL,
        "loyalty.tier": ALL,
        "loyalty.clubplan": ALL,
        "loyalty.badge": ALL,
        "loyalty.roadmapstep": ALL,
        "loyalty.journey": ALL,
        "loyalty.journeystep": ALL,
        "loyalty.journeyentry": VIEW,
        "loyalty.journeymessage": VIEW,
        "loyalty.memberbadge": VIEW,
        "loyalty.membertier": VIEW,
        "loyalty.tierchange": VIEW,
        "loyalty.clubmembership": VIEW,
        "loyalty.eventaward": VIEW,
        "loyalty.purchase": VIEW,
        "loyalty.transfer": VIEW,
        "loyalty.account": VIEW,
        "loyalty.reports": VIEW,  # the dashboard and reports (`view_reports`)
        "loyalty.nonmembersales": VIEW,
        "rewards.reward": ALL,
        "rewards.voucher": ("view", "add"),
        "members.member": VIEW,
        "members.segment": ALL,
        "members.card": VIEW,
        "members.cashier": VIEW,
    },
    "Support": {
        "members.member": ("view", "change"),
        "members.card": ("view", "change"),
        "members.cardbatch": VIEW,
        "members.tillaction": VIEW,
        "members.cardclaim": VIEW,
        "members.segment": VIEW,
        # Adjustments above the program's threshold wait for someone who may approve.
        "loyalty.pointsadjustment": ("view", "add"),
        "loyalty.membertier": VIEW,
        "loyalty.memberbadge": VIEW,
        "loyalty.purchase": VIEW,
        "loyalty.transfer": VIEW,
        "loyalty.account": VIEW,
        "loyalty.lot": VIEW,
        "loyalty.eventaward": VIEW,
        "rewards.voucher": VIEW,
    },
    "Partner manager": {
        "partners.*": ALL,
        "loyalty.hold": VIEW,
        "loyalty.purchase": VIEW,
    },
    # Cashiers work the till, which needs no admin permission and no staff flag.
    "Cashier": {},
}

# Permissions that are not a model's four.
EXTRA = {"Administrator": ["loyalty.approve_pointsadjustment"]}


def role_permissions(role: str) -> list[Permission]:
    rules = ROLES[role]
    if "*" in rules:
        return list(Permission.objects.all())
    condition = Q(pk__in=[])
    for target, actions in rules.items():
        app_label, model = target.split(".")
        codenames = [f"{action}_{model}" for action in actions]
        if model == "*":
            condition |= Q(
                content_type__app_label=app_label,
                codename__regex=rf"^({'|'.join(actions)})_",
            )
        else:
            condition |= Q(content_type__app_label=app_label, codename__in=codenames)
    for extra in EXTRA.get(role, []):
        app_label, codename = extra.split(".")
        condition |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(condition))


def roles_sync(**kwargs: object) -> None:
    """Create the role groups and set their permissions (a post_migrate receiver)."""
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))
