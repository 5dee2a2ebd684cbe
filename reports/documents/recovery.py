"""Recovery of report renders, run by the maintenance tick (``kernel.reconcile``).

- A queued report whose RQ job is gone (Redis lost it), or whose job ended
  without starting the render, is queued again after ``GOVDASH_JOB_GRACE_SECONDS``.
  A duplicate job is harmless: ``report_claim`` lets one job render it.
- A running report whose job ended without an outcome (its worker was killed),
  or that has run past its render time limit plus the job's own margin, fails
  with that reason: a report is never half-written, and a new request makes a
  new one.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from kernel.queues import JobInfo, JobState, QueueUnavailable, job_infos
from kernel.reconcile import Recovery
from reports.documents.jobs import queue_report
from reports.documents.services import report_fail
from reports.models import Report

logger = logging.getLogger(__name__)

KIND = "report"
# The job's own time limit is the render's plus this (reports.documents.jobs).
JOB_MARGIN = dt.timedelta(seconds=300)


def _active() -> QuerySet[Report]:
    return Report.objects.filter(status__in=[Report.Status.QUEUED, Report.Status.RUNNING])


def _overrun(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=settings.REPORT_TIMEOUT_SECONDS) - JOB_MARGIN


def _queued_reason(report: Report, info: JobInfo | None, now: dt.datetime) -> str:
    if info is None:
        return ""
    if now - report.created_at < dt.timedelta(seconds=settings.JOB_GRACE_SECONDS):
        return ""  # being handed to the queue right now
    if info.state == JobState.MISSING:
        return "the job queue lost its job"
    if info.state == JobState.ENDED:
        return "its job ended without starting the render"
    return ""


class ReportReconciler:
    def reconcile(self) -> list[Recovery]:
        now = timezone.now()
        active = list(_active())
        if not active:
            return []
        try:
            infos = job_infos(report.job_id for report in active)
        except QueueUnavailable as exc:
            logger.error("report recovery without the job queue: %s", exc)
            infos = None
        done: list[Recovery] = []
        for report in active:
            info = infos.get(report.job_id) if infos is not None else None
            if report.status == Report.Status.RUNNING:
                reason = ""
                if report.started_at is not None and report.started_at < _overrun(now):
                    reason = "the render ran past its time limit and its job is gone"
                elif report.job_id and info is not None and info.state == JobState.ENDED:
                    reason = "its job ended without an outcome (the worker was stopped)"
                if reason and report_fail(report, error=f"lost: {reason}"):
                    done.append(Recovery(KIND, report.pk, "failed", reason))
            elif infos is not None:
                reason = _queued_reason(report, info, now)
                if reason:
                    try:
                        queue_report(report)
                    except QueueUnavailable:
                        continue  # queue_report failed the report with the reason
                    done.append(Recovery(KIND, report.pk, "requeued", reason))
        return done

    def overdue(self) -> int:
        now = timezone.now()
        grace = now - dt.timedelta(seconds=settings.JOB_GRACE_SECONDS)
        queued = _active().filter(status=Report.Status.QUEUED, created_at__lt=grace).count()
        running = _active().filter(status=Report.Status.RUNNING, started_at__lt=_overrun(now))
        return queued + running.count()
