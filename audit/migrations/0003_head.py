"""The chain head kept apart from the events, and no TRUNCATE of either table.

``audit_audithead`` holds one row: sequence and hash of the newest event,
moved forward by ``record()`` in the event's transaction. ``audit verify``
compares the end of the event table with it, so an emptied or cut-short table
is reported as missing events. Existing databases start with the head at their
current newest event (sequence 0 and the genesis hash when there is none).

PostgreSQL: a statement-level trigger refuses TRUNCATE of both tables (row
triggers never see a TRUNCATE), and a row trigger refuses DELETE of the head
and any UPDATE that does not move its sequence forward. The TRUNCATE trigger
lets one thing through: a transaction that has run
``SET LOCAL govdash.allow_truncate = on``. Only the test suite's flush does
(tests/conftest.py); no production code sets it.

SQLite (the embedded demo database): only the forward-only UPDATE rule. SQLite
has no TRUNCATE, and Django empties tables between transactional tests with
DELETE, which SQLite triggers cannot tell apart from any other DELETE.
"""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from kernel.triggers import vendor_sql

EVENTS = "audit_auditevent"
HEAD = "audit_audithead"
GENESIS_HASH = "0" * 64  # audit.chain.GENESIS_HASH, frozen as migrations must be

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION audit_reject_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('govdash.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'the audit trail is append-only: TRUNCATE of ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_no_truncate
    BEFORE TRUNCATE ON {EVENTS}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_truncate();
CREATE TRIGGER audit_head_no_truncate
    BEFORE TRUNCATE ON {HEAD}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_truncate();

CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.sequence > OLD.sequence THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'the audit head only moves forward: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_head_forward_only
    BEFORE UPDATE OR DELETE ON {HEAD}
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS audit_head_forward_only ON {HEAD};
DROP FUNCTION IF EXISTS audit_head_forward_only();
DROP TRIGGER IF EXISTS audit_head_no_truncate ON {HEAD};
DROP TRIGGER IF EXISTS audit_no_truncate ON {EVENTS};
DROP FUNCTION IF EXISTS audit_reject_truncate();
"""
SQLITE_UP = [
    f"""CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON {HEAD}
        WHEN NEW.id != OLD.id OR NEW.sequence <= OLD.sequence
        BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward: UPDATE refused'); END;""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_head_forward_only;"]


def init_head(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Start the head at the newest event already recorded."""
    event_model = apps.get_model("audit", "AuditEvent")
    head_model = apps.get_model("audit", "AuditHead")
    db = schema_editor.connection.alias
    newest = event_model.objects.using(db).order_by("-sequence").values("sequence", "hash").first()
    head_model.objects.using(db).create(
        id=1,
        sequence=newest["sequence"] if newest else 0,
        hash=newest["hash"] if newest else GENESIS_HASH,
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.CreateModel(
            name="AuditHead",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("sequence", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="audit_head_one_row")
                ],
            },
        ),
        migrations.RunPython(init_head, migrations.RunPython.noop),
        migrations.RunPython(
            vendor_sql(POSTGRES_UP, SQLITE_UP), vendor_sql(POSTGRES_DOWN, SQLITE_DOWN)
        ),
    ]
