from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from audit.chain import GENESIS_HASH
from audit.models import AuditEvent
from audit.services import record, verify

pytestmark = pytest.mark.django_db


def _record_many(count: int) -> list[AuditEvent]:
    return [record(action="test.event", data={"n": index}) for index in range(count)]


def _raw_sql_bypassing_trigger(sql: str, params: list[object]) -> None:
    """Tamper the way an attacker with database access would: trigger off, then raw SQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks must run before the table can be altered.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_no_update")
            cursor.execute(sql, params)


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
    assert verify().intact
