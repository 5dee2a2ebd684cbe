"""Make the audit table append-only in the database itself.

On PostgreSQL a trigger refuses UPDATE and DELETE of audit rows, so not even a
bug or a careless shell can rewrite history; `audit verify` catches whoever
disables the trigger first. On SQLite (the embedded demo database) only UPDATE
is refused: Django empties tables with DELETE between transactional tests, and
a removed row still shows as a gap to `audit verify`.
"""

from django.db import migrations

from kernel.triggers import vendor_sql

TABLE = "audit_auditevent"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit events are append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS audit_append_only ON {TABLE};
DROP FUNCTION IF EXISTS audit_reject_change();
"""
SQLITE_UP = [
    f"""CREATE TRIGGER audit_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_no_update;"]


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            vendor_sql(POSTGRES_UP, SQLITE_UP), vendor_sql(POSTGRES_DOWN, SQLITE_DOWN)
        )
    ]
