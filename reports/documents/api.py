"""Reports API, mounted at /api/v1/ by govdash.api (docs/operations.md, "API";
CONTRACT.md, "Reports"). Errors are raised and answered by the API's one
exception handler: 403 refused, 404 unknown (or an audit extract the caller
may not see), 409 a stored file that no longer matches its SHA-256, 422 bad
parameters, 503 the job queue is down (the report is then failed, with why).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from kernel.api import ErrorOut
from reports.documents.jobs import queue_report
from reports.documents.selectors import report_for
from reports.documents.services import report_download, report_request
from reports.models import Report

router = Router(tags=["reports"])


class ReportRequestIn(Schema):
    kind: Literal["experiment", "model-version", "audit"]
    source: str | None = Field(None, description="experiment, model-version: the source's name")
    experiment: str | None = Field(None, description="experiment: the experiment's name")
    policy: str | None = Field(None, description="experiment: policy slug (default policy)")
    model: str | None = Field(None, description="model-version: the registered model's name")
    version: str | None = Field(None, description="model-version: the version number")
    since: dt.date | None = Field(None, description="audit: first day (UTC) of the extract")
    until: dt.date | None = Field(None, description="audit: last day (UTC) of the extract")


class ReportQueuedOut(Schema):
    id: int
    status: str


class ReportOut(Schema):
    id: int
    kind: str
    status: str
    title: str
    parameters: dict[str, object]
    phase: str
    progress: int
    sha256: str | None
    size: int | None
    pages: int | None
    evidence_sha256: str | None
    csv_sha256: str | None
    signed: bool
    timestamped: bool
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_sha256(report: Report) -> str | None:
        return report.sha256 or None

    @staticmethod
    def resolve_evidence_sha256(report: Report) -> str | None:
        return report.evidence_sha256 or None

    @staticmethod
    def resolve_csv_sha256(report: Report) -> str | None:
        return report.csv_sha256 or None


@router.post(
    "/reports",
    response={202: ReportQueuedOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Request a report (compliance officers, auditors, admins; reviewers: dossiers)",
)
def request_report(request: HttpRequest, payload: ReportRequestIn) -> Status:
    parameters = {
        key: value.isoformat() if isinstance(value, dt.date) else value
        for key, value in payload.dict(exclude={"kind"}).items()
        if value is not None
    }
    report = report_request(kind=payload.kind, parameters=parameters, actor=request.user)
    report = queue_report(report)  # QueueUnavailable (503) propagates to the handler
    return Status(202, {"id": report.pk, "status": report.status})


@router.get(
    "/reports/{report_id}",
    response={200: ReportOut, 404: ErrorOut},
    summary="A report and its status (audit extracts: audit-trail viewers only)",
)
def get_report(request: HttpRequest, report_id: int) -> Report:
    return report_for(request.user, report_id)


@router.get(
    "/reports/{report_id}/download",
    response={200: None, 404: ErrorOut, 409: ErrorOut},
    summary="The PDF; 409 (and an audit event) when it no longer matches its SHA-256",
)
def download_report(request: HttpRequest, report_id: int) -> HttpResponse:
    report = report_for(request.user, report_id)
    content = report_download(report=report, actor=request.user)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="govdash-report-{report.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@router.get(
    "/reports/{report_id}/findings.csv",
    response={200: None, 404: ErrorOut, 409: ErrorOut},
    summary="The findings CSV attached to the report (checked like the PDF)",
)
def download_findings(request: HttpRequest, report_id: int) -> HttpResponse:
    report = report_for(request.user, report_id)
    content = report_download(report=report, actor=request.user, what="csv")
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="govdash-report-{report.pk}-findings.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    return response
