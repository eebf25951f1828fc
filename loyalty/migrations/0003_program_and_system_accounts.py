"""A freshly migrated database is usable at once: program settings with
sensible defaults, and the system accounts of the program and its operator."""

from django.db import migrations


def create_program(apps, schema_editor):
    ProgramSettings = apps.get_model("loyalty", "ProgramSettings")
    Account = apps.get_model("loyalty", "Account")
    Partner = apps.get_model("partners", "Partner")
    ProgramSettings.objects.get_or_create(id=1)
    for kind in ("expired", "adjustments", "migration"):
        Account.objects.get_or_create(kind=kind, member=None, partner=None)
    operator = Partner.objects.get(code="main")
    for kind in ("issued", "redeemed"):
        Account.objects.get_or_create(kind=kind, partner=operator)


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0002_transfers_immutable"),
        ("partners", "0002_operator_partner"),
    ]
    operations = [migrations.RunPython(create_program, migrations.RunPython.noop)]
