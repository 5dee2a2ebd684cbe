"""Report renders in the one reconciliation loop (issue 12): a queued report
whose job Redis lost is queued again; a running one whose worker is gone fails
with the reason, audited; nothing is left "queued" or "running" for ever."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from kernel.reconcile import maintenance_tick, overdue
from reports.models import Report

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def _report(**fields):  # type: ignore[no-untyped-def]
    return Report.objects.create(
        kind=Report.Kind.AUDIT, parameters={"since": None, "until": None}, **fields
    )


def test_a_queued_report_whose_job_was_lost_is_queued_again(redis_queue):
    queue = redis_queue("reports")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    lost = _report(status=Report.Status.QUEUED, job_id="lost-with-redis", created_at=long_ago)
    fresh = _report(status=Report.Status.QUEUED, job_id="on-its-way")  # within the grace

    assert overdue()["report renders"] == 1
    assert maintenance_tick() == {"report requeued": 1}

    lost.refresh_from_db()
    assert lost.status == Report.Status.QUEUED
    assert lost.job_id
    assert lost.job_id != "lost-with-redis"
    assert [(job.id, job.args) for job in queue.get_jobs()] == [(lost.job_id, (lost.pk,))]
    fresh.refresh_from_db()
    assert fresh.job_id == "on-its-way"
    # The requeued job is on the queue now: the next tick leaves it alone.
    assert maintenance_tick() == {}


def test_a_running_report_past_its_limit_fails_with_the_reason(redis_queue, settings):
    redis_queue("reports")
    settings.REPORT_TIMEOUT_SECONDS = 60
    started = timezone.now() - dt.timedelta(minutes=30)
    stuck = _report(status=Report.Status.RUNNING, job_id="worker-killed", started_at=started)
    running = _report(status=Report.Status.RUNNING, job_id="busy", started_at=timezone.now())

    assert maintenance_tick() == {"report failed": 1}

    stuck.refresh_from_db()
    assert stuck.status == Report.Status.FAILED
    assert "ran past its time limit" in stuck.error
    assert not stuck.file_name
    running.refresh_from_db()
    assert running.status == Report.Status.RUNNING
    event = AuditEvent.objects.filter(action="reports.report_generate").get()
    assert event.outcome == AuditEvent.Outcome.FAILURE
