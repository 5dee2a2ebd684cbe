"""Nobody can alter or delete a report (issue 9): the database refuses it
(reports/migrations/0006_report_immutable.py), the ORM says so in one line,
the admin offers no delete; a report still goes queued -> running -> done or
failed. Runs on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from reports.documents.services import report_claim, report_fail, report_finish
from reports.models import Report, ReportImmutable

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL only: SQLite has no TRUNCATE"
)


def _queued() -> Report:
    return Report.objects.create(kind=Report.Kind.AUDIT, parameters={"since": None, "until": None})


def _finish(report: Report) -> Report:
    assert report_finish(
        report,
        file_name=f"{report.pk}/report.pdf",
        csv_name=f"{report.pk}/report.csv",
        sha256="a" * 64,
        csv_sha256="b" * 64,
        size=1000,
        pages=3,
        evidence_sha256="c" * 64,
        signed=False,
        timestamped=False,
        refused_urls=[],
        policy_version_id=None,
    )
    report.refresh_from_db()
    return report


def _done() -> Report:
    report = _queued()
    assert report_claim(report)
    return _finish(report)


def _failed() -> Report:
    report = _queued()
    assert report_fail(report, error="the renderer stopped")
    report.refresh_from_db()
    return report


def _raw(sql: str, params: list[Any], *, before: str = "") -> None:
    """What someone with database access and no respect for the ORM would do."""
    with transaction.atomic(), connection.cursor() as cursor:
        if before:
            cursor.execute(before)
        cursor.execute(sql, params)


def test_a_report_still_goes_queued_running_done_and_queued_or_running_failed():
    done = _done()
    assert (done.status, done.progress, done.sha256) == (Report.Status.DONE, 100, "a" * 64)
    assert _failed().status == Report.Status.FAILED
    running = _queued()
    assert report_claim(running)
    assert report_fail(running, error="worker gone")
    running.refresh_from_db()
    assert running.status == Report.Status.FAILED


@pytest.mark.parametrize("make", [_done, _failed], ids=["done", "failed"])
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("sha256", "f" * 64),
        ("file_name", "elsewhere.pdf"),
        ("pages", 2),
        ("signed", True),
        ("error", ""),
        ("status", "queued"),
        ("job_id", "another-job"),
        ("title", "Something else"),
    ],
)
def test_the_database_refuses_to_alter_a_finished_report(make, column, value):
    report = make()
    with pytest.raises(DatabaseError, match="finished report cannot be altered"):
        _raw(f"UPDATE reports_report SET {column} = %s WHERE id = %s", [value, report.pk])
    with (
        pytest.raises(DatabaseError, match="finished report cannot be altered"),
        transaction.atomic(),
    ):
        Report.objects.filter(pk=report.pk).update(**{column: value})
    after = Report.objects.get(pk=report.pk)
    assert getattr(after, column) == getattr(report, column)


@pytest.mark.parametrize("make", [_queued, _done, _failed], ids=["queued", "done", "failed"])
def test_the_database_refuses_to_delete_any_report(make):
    report = make()
    with pytest.raises(DatabaseError, match="reports cannot be deleted"):
        _raw("DELETE FROM reports_report WHERE id = %s", [report.pk])
    assert Report.objects.filter(pk=report.pk).exists()


def test_the_orm_delete_raises_report_immutable():
    report = _done()
    with pytest.raises(ReportImmutable, match=f"report {report.pk} cannot be deleted"):
        report.delete()
    with pytest.raises(ReportImmutable, match="reports cannot be deleted"):
        Report.objects.filter(pk=report.pk).delete()
    with pytest.raises(ReportImmutable):
        Report.objects.all().delete()
    assert Report.objects.filter(pk=report.pk).exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("kind", "experiment"),
        ("parameters", '{"since": "2020-01-01", "until": null}'),
        ("title", "Something else"),
        ("requested_by_system", "command"),
        ("created_at", "2020-01-01 00:00:00+00:00"),
    ],
)
def test_what_was_asked_and_by_whom_never_changes_even_before_the_report_ends(column, value):
    report = _queued()
    with pytest.raises(DatabaseError, match="what a report was asked for cannot be altered"):
        _raw(f"UPDATE reports_report SET {column} = %s WHERE id = %s", [value, report.pk])


@pytest.mark.parametrize(
    ("start", "to"),
    [("queued", "done"), ("running", "queued")],
)
def test_a_status_moves_only_forward(start, to):
    report = _queued()
    if start == "running":
        assert report_claim(report)
    with pytest.raises(DatabaseError, match="status"):
        _raw("UPDATE reports_report SET status = %s WHERE id = %s", [to, report.pk])
    assert Report.objects.get(pk=report.pk).status == start


def test_progress_of_a_running_report_is_still_written():
    report = _queued()
    assert report_claim(report)
    Report.objects.filter(pk=report.pk).update(phase="rendering", progress=40, job_id="j")
    report.refresh_from_db()
    assert (report.phase, report.progress) == ("rendering", 40)


@postgresql_only
@pytest.mark.parametrize(
    "statement", ["TRUNCATE reports_report", "TRUNCATE auth_user, reports_report CASCADE"]
)
def test_postgresql_refuses_truncate_of_the_reports(statement):
    _done()
    with pytest.raises(DatabaseError, match="TRUNCATE of reports_report refused"):
        # Deferred foreign-key checks must run before a table can be truncated.
        _raw(statement, [], before="SET CONSTRAINTS ALL IMMEDIATE")
    assert Report.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_test_flush_empties_the_reports_and_the_guard_is_back_after_it():
    """Django's flush (TRUNCATE on PostgreSQL, DELETE on SQLite) goes through
    (tests/conftest.py); the guard is on again afterwards."""
    _done()
    _queued()
    call_command("flush", interactive=False, verbosity=0)
    assert not Report.objects.exists()
    report = _queued()
    with pytest.raises(DatabaseError, match="reports cannot be deleted"):
        _raw("DELETE FROM reports_report WHERE id = %s", [report.pk])
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="TRUNCATE of reports_report refused"):
            _raw("TRUNCATE reports_report", [])


def test_the_admin_shows_reports_read_only_and_offers_no_delete(make_user):
    model_admin = admin.site._registry[Report]
    request = RequestFactory().get("/admin/reports/report/")
    request.user = make_user("root", "admin")
    request.user.is_superuser = True
    report = _done()
    assert not model_admin.has_delete_permission(request, report)
    assert not model_admin.has_delete_permission(request)
    assert not model_admin.has_change_permission(request, report)
    assert not model_admin.has_add_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_no_production_code_switches_the_reports_guard_off():
    from django.conf import settings

    migration = settings.BASE_DIR / "reports" / "migrations" / "0006_report_immutable.py"
    offenders = [
        str(path.relative_to(settings.BASE_DIR))
        for app in ("govdash", "kernel", "audit", "tracking", "reports", "approvals", "scripts")
        for path in (settings.BASE_DIR / app).rglob("*.py")
        if path != migration
        and any(word in path.read_text() for word in ("reports_report_no_", "DISABLE TRIGGER"))
    ]
    assert offenders == []
