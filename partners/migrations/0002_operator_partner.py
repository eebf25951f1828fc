from django.db import migrations


def create_operator(apps, schema_editor):
    Partner = apps.get_model("partners", "Partner")
    Partner.objects.get_or_create(code="main", defaults={"name": "Our brand"})


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]
    operations = [migrations.RunPython(create_operator, migrations.RunPython.noop)]
