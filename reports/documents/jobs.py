"""The report job: thin, safe to run twice (a finished report is left alone)."""

from __future__ import annotations

from django.conf import settings

from kernel.errors import one_line
from kernel.queues import QueueUnavailable, enqueue
from reports.documents.generate import generate_report
from reports.documents.services import report_fail, report_job_queued
from reports.models import Report

QUEUE = "reports"


def generate_report_job(report_id: int) -> str:
    report = Report.objects.get(pk=report_id)
    return generate_report(report).status


def queue_report(report: Report) -> Report:
    """Put the report's job on the queue (call after the request committed).
    When the queue cannot take it, the report fails with the reason and
    ``QueueUnavailable`` propagates."""
    try:
        job = enqueue(
            QUEUE,
            generate_report_job,
            report.pk,
            job_timeout=settings.REPORT_TIMEOUT_SECONDS + 300,
            result_ttl=3600,
        )
    except QueueUnavailable as exc:
        report_fail(report, error=f"not queued: {one_line(exc, with_type=False)}")
        raise
    if getattr(job, "id", ""):
        report_job_queued(report, job_id=job.id)
    report.refresh_from_db()
    return report
