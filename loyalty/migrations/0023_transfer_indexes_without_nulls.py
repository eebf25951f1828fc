"""Transfers: drop the indexes that the (account, created_at) ones already serve, and
index purchase and refund only where they are set.

The database side is written out: Django's AlterField would drop and re-add
each foreign key constraint, re-validating it over every transfer while it
holds a lock on the table.
"""

import django.db.models.deletion
from django.db import migrations, models

DROPPED = {
    "loyalty_transfer_credit_account_id_bd0e3d8e": "credit_account_id",
    "loyalty_transfer_debit_account_id_1e5071b8": "debit_account_id",
    "loyalty_transfer_purchase_id_ce7075df": "purchase_id",
    "loyalty_transfer_refund_id_b0693823": "refund_id",
}
PARTIAL = {"transfer_purchase_idx": "purchase_id", "transfer_refund_idx": "refund_id"}


def indexes_swap(apps, schema_editor):
    for name in DROPPED:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    for name, column in PARTIAL.items():
        schema_editor.execute(
            f'CREATE INDEX "{name}" ON "loyalty_transfer" ("{column}") WHERE "{column}" IS NOT NULL'
        )


def indexes_restore(apps, schema_editor):
    for name in PARTIAL:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    for name, column in DROPPED.items():
        schema_editor.execute(f'CREATE INDEX "{name}" ON "loyalty_transfer" ("{column}")')


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0022_nonmember_sales"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="transfer",
                    name="credit_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="credits",
                        to="loyalty.account",
                        verbose_name="to account",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="debit_account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="debits",
                        to="loyalty.account",
                        verbose_name="from account",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="purchase",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transfers",
                        to="loyalty.purchase",
                        verbose_name="purchase",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="refund",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transfers",
                        to="loyalty.refund",
                        verbose_name="refund",
                    ),
                ),
                migrations.AddIndex(
                    model_name="transfer",
                    index=models.Index(
                        condition=models.Q(("purchase__isnull", False)),
                        fields=["purchase"],
                        name="transfer_purchase_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="transfer",
                    index=models.Index(
                        condition=models.Q(("refund__isnull", False)),
                        fields=["refund"],
                        name="transfer_refund_idx",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(indexes_swap, indexes_restore)],
        ),
    ]
