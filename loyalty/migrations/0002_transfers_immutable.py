"""Transfers are append-only: the database itself refuses UPDATE and DELETE.

TRUNCATE is left alone (it does not fire row triggers): test teardown and a
deliberate full reset by a DBA stay possible, a stray ORM call does not.
"""

from django.db import NotSupportedError, migrations

POSTGRES_UP = """
CREATE FUNCTION loyalty_transfer_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'loyalty_transfer rows are immutable: post a reversing transfer instead'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER loyalty_transfer_no_update_delete
    BEFORE UPDATE OR DELETE ON loyalty_transfer
    FOR EACH ROW EXECUTE FUNCTION loyalty_transfer_immutable();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS loyalty_transfer_no_update_delete ON loyalty_transfer;
DROP FUNCTION IF EXISTS loyalty_transfer_immutable();
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor != "postgresql":
        raise NotSupportedError("loyalty 0002: the transfers' trigger needs PostgreSQL.")
    schema_editor.execute(sql)


def forwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_UP)


def backwards(apps, schema_editor):
    _run(schema_editor, POSTGRES_DOWN)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
