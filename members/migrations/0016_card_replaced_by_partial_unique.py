"""A card's `replaced_by`: unique only where set, instead of a one-to-one field whose
unique index held every card's NULL (paid on each card a legacy import inserts).

The database side is written out: Django's AlterField would drop and re-add
the foreign key, re-validating it over every card under a lock.
"""

import django.db.models.deletion
from django.db import NotSupportedError, migrations, models


def _postgresql_only(schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        raise NotSupportedError("members 0016: the partial unique index needs PostgreSQL.")


def unique_where_set(apps, schema_editor):
    _postgresql_only(schema_editor)
    schema_editor.execute(
        'ALTER TABLE "members_card" DROP CONSTRAINT IF EXISTS "members_card_replaced_by_id_key"'
    )
    schema_editor.execute(
        'CREATE UNIQUE INDEX "card_replaced_by_unique" ON "members_card" ("replaced_by_id") '
        'WHERE "replaced_by_id" IS NOT NULL'
    )


def unique_everywhere(apps, schema_editor):
    _postgresql_only(schema_editor)
    schema_editor.execute('DROP INDEX IF EXISTS "card_replaced_by_unique"')
    schema_editor.execute(
        'ALTER TABLE "members_card" ADD CONSTRAINT "members_card_replaced_by_id_key" '
        'UNIQUE ("replaced_by_id")'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0015_referral_code_on_first_use"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="card",
                    name="replaced_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="replaces",
                        to="members.card",
                        verbose_name="replaced by",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="card",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("replaced_by__isnull", False)),
                        fields=("replaced_by",),
                        name="card_replaced_by_unique",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(unique_where_set, unique_everywhere)],
        ),
    ]
