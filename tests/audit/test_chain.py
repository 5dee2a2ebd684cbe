from __future__ import annotations

import datetime as dt
import importlib
import threading
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from audit.chain import GENESIS_HASH
from audit.models import AuditEvent, AuditHead
from audit.services import AuditHeadMissing, record, verify

pytestmark = pytest.mark.django_db


def _record_many(count: int) -> list[AuditEvent]:
    return [record(action="test.event", data={"n": index}) for index in range(count)]


postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="PostgreSQL only: SQLite has no TRUNCATE and its triggers cannot refuse DELETE "
    "(Django's test flush deletes); see audit/migrations/0003_head.py",
)


def _raw_sql_bypassing_trigger(
    sql: str, params: list[object] | None = None, table: str = "audit_auditevent"
) -> None:
    """Tamper the way an attacker with database access would: triggers off, then raw SQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks must run before the table can be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_no_update")
            cursor.execute("DROP TRIGGER IF EXISTS audit_head_forward_only")
            cursor.execute(sql, params)


def _empty_the_event_table() -> None:
    """TRUNCATE on PostgreSQL (its trigger disabled first), DELETE on SQLite."""
    if connection.vendor == "postgresql":
        _raw_sql_bypassing_trigger("TRUNCATE audit_auditevent")
    else:
        _raw_sql_bypassing_trigger("DELETE FROM audit_auditevent")


def _verify_command_error() -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify")
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def test_events_link_to_their_predecessor_from_the_genesis_hash():
    first, second, third = _record_many(3)
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash


def test_verify_reports_an_intact_chain():
    events = _record_many(5)
    result = verify()
    assert result.intact
    assert result.checked == 5
    assert result.head_hash == events[-1].hash


def test_record_moves_the_head_record_with_the_chain():
    events = _record_many(3)
    head = AuditHead.objects.get()
    assert (head.sequence, head.hash) == (3, events[-1].hash)


def test_payload_with_dates_and_decimals_verifies_after_reading_back():
    record(
        action="test.types",
        data={"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "amount": Decimal("1.10")},
    )
    stored = AuditEvent.objects.get()
    assert stored.data == {"when": "2026-01-02T03:04:05+00:00", "amount": "1.10"}
    assert verify().intact


def test_edited_row_is_named_by_verify():
    _record_many(5)
    _raw_sql_bypassing_trigger(
        "UPDATE audit_auditevent SET action = %s WHERE sequence = %s", ["test.forged", 3]
    )
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 3


def test_removed_row_is_named_by_verify():
    _record_many(5)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence = %s", [2])
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 2


def test_reordered_rows_are_detected():
    _record_many(5)
    # Swap events 2 and 4 by renumbering them through a free number.
    for old, new in ((2, 100), (4, 2), (100, 4)):
        _raw_sql_bypassing_trigger(
            "UPDATE audit_auditevent SET sequence = %s WHERE sequence = %s", [new, old]
        )
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 2


def test_database_refuses_updates_of_audit_rows():
    event = record(action="test.event")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="test.forged")


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="SQLite refuses updates only (see migration)"
)
def test_postgresql_refuses_deletes_of_audit_rows():
    event = record(action="test.event")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def _truncate(statement: str, *, allow: bool = False) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        # Deferred foreign-key checks must run before a table can be truncated.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if allow:
            cursor.execute("SET LOCAL govdash.allow_truncate = on")
        cursor.execute(statement)


@postgresql_only
def test_postgresql_refuses_truncate_of_the_audit_tables():
    _record_many(3)
    for statement in (
        "TRUNCATE audit_auditevent",
        "TRUNCATE audit_audithead",
        # Emptying the users cascades to the events that name them.
        "TRUNCATE auth_user CASCADE",
    ):
        with pytest.raises(DatabaseError, match=r"TRUNCATE of audit_\w+ refused"):
            _truncate(statement)
    assert AuditEvent.objects.count() == 3
    assert verify().intact


@postgresql_only
def test_the_truncate_switch_lasts_one_transaction_only():
    _record_many(2)
    with transaction.atomic():
        _truncate("TRUNCATE audit_auditevent, audit_audithead", allow=True)
        assert not AuditEvent.objects.exists()
        transaction.set_rollback(True)
    assert AuditEvent.objects.count() == 2
    with pytest.raises(DatabaseError, match="TRUNCATE of audit_auditevent refused"):
        _truncate("TRUNCATE audit_auditevent")


@postgresql_only
def test_postgresql_refuses_deleting_the_head_record():
    record(action="test.event")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditHead.objects.all().delete()


def test_database_refuses_moving_the_head_back():
    _record_many(3)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditHead.objects.update(sequence=2)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditHead.objects.update(hash="f" * 64)  # same sequence, other hash
    assert AuditHead.objects.get().sequence == 3


def test_emptied_table_is_broken_naming_the_missing_events():
    _record_many(5)
    _empty_the_event_table()
    assert not AuditEvent.objects.exists()
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 1
    message = _verify_command_error()
    assert "events 1-5 are missing; the head says 5" in message


def test_table_cut_short_is_broken_naming_the_missing_tail():
    _record_many(8)
    _raw_sql_bypassing_trigger("DELETE FROM audit_auditevent WHERE sequence >= %s", [6])
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 6
    assert result.checked == 5
    message = _verify_command_error()
    assert "BROKEN at sequence 6: events 6-8 are missing; the head says 8" in message


def test_newest_event_alone_removed_is_named():
    _record_many(4)
    _raw_sql_bypassing_trigger("DELETE FROM audit_auditevent WHERE sequence = %s", [4])
    assert "event 4 is missing; the head says 4" in _verify_command_error()


def test_events_after_a_cut_go_on_from_the_head_and_the_gap_stays_visible():
    events = _record_many(6)
    _raw_sql_bypassing_trigger("DELETE FROM audit_auditevent WHERE sequence >= %s", [4])
    after = record(action="test.after")
    assert after.sequence == 7
    assert after.prev_hash == events[-1].hash
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 4
    assert result.reason == "events 4-6 are missing (next present is 7)"


def test_removed_head_record_is_broken_and_stops_new_events():
    _record_many(3)
    _raw_sql_bypassing_trigger("DELETE FROM audit_audithead", table="audit_audithead")
    assert "the head record is missing" in _verify_command_error()
    with pytest.raises(AuditHeadMissing):
        record(action="test.after")


def test_head_reset_behind_the_table_is_broken():
    _record_many(4)
    _raw_sql_bypassing_trigger(
        "UPDATE audit_audithead SET sequence = %s", [2], table="audit_audithead"
    )
    result = verify()
    assert not result.intact
    assert result.first_bad_sequence == 3


def test_head_with_another_hash_is_broken():
    _record_many(2)
    _raw_sql_bypassing_trigger(
        "UPDATE audit_audithead SET hash = %s", ["f" * 64], table="audit_audithead"
    )
    assert "event 2 does not match the head's hash" in _verify_command_error()


def test_the_migration_starts_the_head_at_the_newest_event():
    events = _record_many(3)
    _raw_sql_bypassing_trigger("DELETE FROM audit_audithead", table="audit_audithead")
    migration = importlib.import_module("audit.migrations.0003_head")
    migration.init_head(apps, SimpleNamespace(connection=connection))
    head = AuditHead.objects.get()
    assert (head.sequence, head.hash) == (3, events[-1].hash)
    assert verify().intact


def test_the_migration_starts_an_empty_trail_at_the_genesis_hash():
    _raw_sql_bypassing_trigger("DELETE FROM audit_audithead", table="audit_audithead")
    migration = importlib.import_module("audit.migrations.0003_head")
    migration.init_head(apps, SimpleNamespace(connection=connection))
    head = AuditHead.objects.get()
    assert (head.sequence, head.hash) == (0, GENESIS_HASH)
    assert verify().intact
    assert record(action="test.first").sequence == 1


def test_no_production_code_switches_the_truncate_trigger_off():
    offenders = [
        str(path.relative_to(settings.BASE_DIR))
        for app in ("govdash", "kernel", "audit", "tracking", "reports", "approvals", "scripts")
        for path in Path(settings.BASE_DIR, app).rglob("*.py")
        if "allow_truncate" in path.read_text()
        and path != Path(settings.BASE_DIR, "audit", "migrations", "0003_head.py")
    ]
    assert offenders == []


def test_event_rolls_back_with_the_action_that_failed():
    def audited_action_that_fails() -> None:
        with transaction.atomic():
            record(action="test.event")
            raise RuntimeError("the action failed after auditing")

    with pytest.raises(RuntimeError):
        audited_action_that_fails()
    assert not AuditEvent.objects.exists()
    record(action="test.after")
    assert verify().intact


def test_verify_command_exits_zero_when_intact(capsys):
    _record_many(2)
    call_command("audit", "verify")
    assert "intact: 2 events" in capsys.readouterr().out


def test_verify_command_exits_one_naming_the_bad_sequence():
    _record_many(4)
    _raw_sql_bypassing_trigger(
        "UPDATE audit_auditevent SET data = %s WHERE sequence = %s", ['{"n": 99}', 3]
    )
    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify")
    assert excinfo.value.returncode == 1
    assert "sequence 3" in str(excinfo.value)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_one_unbroken_chain():
    threads_count, per_thread = 4, 15
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            barrier.wait()
            for index in range(per_thread):
                with transaction.atomic():
                    record(action="test.concurrent", data={"worker": worker, "n": index})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sequences = list(AuditEvent.objects.chain_order().values_list("sequence", flat=True))
    assert sequences == list(range(1, threads_count * per_thread + 1))
    assert AuditHead.objects.get().sequence == threads_count * per_thread
    assert verify().intact


@pytest.mark.django_db(transaction=True)
def test_the_test_flush_may_empty_the_audit_trail():
    """Django's flush (TRUNCATE on PostgreSQL) is switched through; see tests/conftest.py."""
    _record_many(2)
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    assert not AuditHead.objects.exists()
    assert verify().intact
    assert record(action="test.after_flush").sequence == 1


@pytest.mark.django_db(transaction=True)
def test_verify_while_writers_append_never_reports_missing_events():
    """The head moves on while verify walks; that is not a cut-short chain."""
    _record_many(5)
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for index in range(150):
                with transaction.atomic():
                    record(action="test.concurrent", data={"n": index})
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    verdicts = []
    while not done.is_set():
        verdicts.append(verify(chunk_size=7))
    thread.join()
    assert errors == []
    assert [v.reason for v in verdicts if not v.intact] == []
    assert verify().checked == 155
