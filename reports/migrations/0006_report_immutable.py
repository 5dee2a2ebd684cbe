"""Nobody can alter or delete a report, in the database itself.

Triggers on ``reports_report`` refuse:

- DELETE of any report (and, on PostgreSQL, TRUNCATE: row triggers never see
  one, so a statement trigger refuses it);
- any UPDATE of a finished report (status ``done`` or ``failed``);
- any change of what was asked and by whom (id, kind, parameters, title,
  requester, created at), finished or not;
- any status move but queued -> running -> done, or queued/running -> failed.

So the queued -> running -> done/failed life of a report still works, and once
it has ended nothing changes it. The ORM's ``delete()`` raises
``ReportImmutable`` before reaching the database (``reports.models``).

The test suite's flush (TRUNCATE on PostgreSQL, DELETE on SQLite) goes through
by switching the DELETE/TRUNCATE trigger off inside the flush's own
transaction and back on before it commits (tests/conftest.py); no production
code does. That is its own mechanism, not the audit trail's switch.

On SQLite a migration that rebuilds this table (Django does for some field
changes) drops its triggers: such a migration must create them again
(``vendor_sql(POSTGRES_UP, SQLITE_UP)``), which tests/reports_documents/test_immutable.py would show.
"""

from django.db import migrations

from kernel.triggers import vendor_sql

TABLE = "reports_report"
FINISHED = "('done', 'failed')"
# What was asked and by whom: never changes once the row exists.
IDENTITY = ("id", "kind", "parameters", "title", "requested_by_id", "requested_by_system", "created_at")
# (On SQLite the UPDATE triggers exclude each other, so one message is given.)
# The moves a report's status may make (besides staying where it is).
MOVES = "(('queued', 'running'), ('queued', 'failed'), ('running', 'done'), ('running', 'failed'))"

# Named so that tests/conftest.py can switch them around the test flush.
POSTGRES_TRUNCATE_TRIGGER = "reports_report_no_truncate"
SQLITE_DELETE_TRIGGER = "reports_report_no_delete"

_PG_IDENTITY_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in IDENTITY)
POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION reports_report_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING
            MESSAGE = 'reports cannot be deleted: DELETE of report ' || OLD.id || ' refused',
            ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status IN {FINISHED} THEN
        RAISE EXCEPTION USING
            MESSAGE = 'a finished report cannot be altered: UPDATE of report ' || OLD.id
                || ' (' || OLD.status || ') refused',
            ERRCODE = 'insufficient_privilege';
    END IF;
    IF {_PG_IDENTITY_CHANGED} THEN
        RAISE EXCEPTION USING
            MESSAGE = 'what a report was asked for cannot be altered: UPDATE of report '
                || OLD.id || ' refused',
            ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN {MOVES} THEN
        RAISE EXCEPTION USING
            MESSAGE = 'a report''s status cannot go from ' || OLD.status || ' to '
                || NEW.status || ': UPDATE of report ' || OLD.id || ' refused',
            ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reports_report_immutable
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION reports_report_guard();

CREATE OR REPLACE FUNCTION reports_report_reject_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'reports cannot be deleted: TRUNCATE of ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {POSTGRES_TRUNCATE_TRIGGER}
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION reports_report_reject_truncate();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS {POSTGRES_TRUNCATE_TRIGGER} ON {TABLE};
DROP FUNCTION IF EXISTS reports_report_reject_truncate();
DROP TRIGGER IF EXISTS reports_report_immutable ON {TABLE};
DROP FUNCTION IF EXISTS reports_report_guard();
"""

_SQLITE_IDENTITY_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in IDENTITY)
_SQLITE_MOVE_REFUSED = (
    "NEW.status IS NOT OLD.status AND NOT ("
    + " OR ".join(
        f"(OLD.status = '{old}' AND NEW.status = '{new}')"
        for old, new in (
            ("queued", "running"),
            ("queued", "failed"),
            ("running", "done"),
            ("running", "failed"),
        )
    )
    + ")"
)
SQLITE_DELETE_TRIGGER_SQL = f"""CREATE TRIGGER {SQLITE_DELETE_TRIGGER} BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'reports cannot be deleted: DELETE refused'); END;"""
SQLITE_UP = [
    SQLITE_DELETE_TRIGGER_SQL,
    f"""CREATE TRIGGER reports_report_finished BEFORE UPDATE ON {TABLE}
        WHEN OLD.status IN {FINISHED}
        BEGIN SELECT RAISE(ABORT, 'a finished report cannot be altered: UPDATE refused'); END;""",
    f"""CREATE TRIGGER reports_report_identity BEFORE UPDATE ON {TABLE}
        WHEN OLD.status NOT IN {FINISHED} AND ({_SQLITE_IDENTITY_CHANGED})
        BEGIN SELECT RAISE(ABORT,
            'what a report was asked for cannot be altered: UPDATE refused'); END;""",
    f"""CREATE TRIGGER reports_report_status_moves BEFORE UPDATE ON {TABLE}
        WHEN OLD.status NOT IN {FINISHED} AND {_SQLITE_MOVE_REFUSED}
        BEGIN SELECT RAISE(ABORT,
            'a report''s status can only go queued, running, done or failed: UPDATE refused');
        END;""",
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER};",
    "DROP TRIGGER IF EXISTS reports_report_finished;",
    "DROP TRIGGER IF EXISTS reports_report_identity;",
    "DROP TRIGGER IF EXISTS reports_report_status_moves;",
]


class Migration(migrations.Migration):
    dependencies = [("reports", "0005_report_timestamped")]

    operations = [
        migrations.RunPython(
            vendor_sql(POSTGRES_UP, SQLITE_UP), vendor_sql(POSTGRES_DOWN, SQLITE_DOWN)
        )
    ]
