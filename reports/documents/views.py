"""Report pages: the list, a request form, a report with its progress, downloads.

Thin: check the right, call the service, render. Every download goes through
``report_download``, which re-checks the stored file's SHA-256 and audits.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from kernel.errors import DomainError, one_line
from kernel.http import private_no_store
from kernel.queues import QueueUnavailable
from kernel.tables import configure_table
from reports.documents.filters import ReportFilter
from reports.documents.forms import ReportRequestForm
from reports.documents.jobs import queue_report
from reports.documents.selectors import report_for, reports_visible_to
from reports.documents.services import ReportTampered, report_download, report_request
from reports.documents.signing import signing_configured
from reports.documents.tables import ReportTable
from reports.models import Report
from reports.permissions import REQUEST_DOSSIER, REQUEST_REPORT, may_request_report

PER_PAGE = 50


@private_no_store
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    report_filter = ReportFilter(request.GET, queryset=reports_visible_to(request.user))
    table = ReportTable(report_filter.qs)
    table.caption = "Reports"
    configure_table(request, table, per_page=PER_PAGE)
    return render(
        request,
        "reports/documents/list.html",
        {"filter": report_filter, "table": table, "signing": signing_configured()},
    )


def _required_right(kind: str) -> str:
    return REQUEST_DOSSIER if kind == Report.Kind.MODEL_VERSION else REQUEST_REPORT


@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("kind") or Report.Kind.EXPERIMENT
    if kind not in Report.Kind.values:
        kind = Report.Kind.EXPERIMENT
    if not may_request_report(request.user, kind):
        raise PermissionDenied(f"You may not request {Report.Kind(kind).label.lower()}s.")
    form = ReportRequestForm(data if request.method == "POST" else None, initial=dict(data.items()))
    if request.method == "POST" and form.is_valid():
        try:
            report = report_request(
                kind=kind,
                parameters=form.parameters(),
                actor=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            for field, errors in getattr(exc, "error_dict", {"__all__": exc.error_list}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        except DomainError as exc:
            form.add_error(None, one_line(exc, with_type=False))
        else:
            try:
                queue_report(report)
            except QueueUnavailable as exc:
                messages.error(
                    request, f"The report could not be queued: {one_line(exc, with_type=False)}"
                )
            else:
                messages.success(request, f"Report #{report.pk} requested.")
            return redirect(report)
    return render(
        request,
        "reports/documents/new.html",
        {
            "form": form,
            "kind": kind,
            "kind_label": Report.Kind(kind).label,
            "fields": form.visible_fields_for(kind),
        },
    )


@private_no_store
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = report_for(request.user, pk)
    return render(request, "reports/documents/detail.html", {"report": report})


@private_no_store
@require_GET
def report_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The status block; htmx re-polls it while the report is queued or running."""
    report = report_for(request.user, pk)
    return render(request, "reports/documents/_status.html", {"report": report})


def _download(request: HttpRequest, pk: int, what: str) -> HttpResponse:
    report = report_for(request.user, pk)
    try:
        content = report_download(report=report, actor=request.user, what=what)  # type: ignore[arg-type]
    except ReportTampered as exc:
        response = render(
            request,
            "reports/documents/tampered.html",
            {"report": report, "reason": one_line(exc, with_type=False)},
            status=409,
        )
        return response
    except DomainError as exc:
        return render(
            request,
            "reports/documents/tampered.html",
            {"report": report, "reason": one_line(exc, with_type=False), "not_ready": True},
            status=409,
        )
    if what == "pdf":
        response = HttpResponse(content, content_type="application/pdf")
        filename = f"govdash-report-{report.pk}.pdf"
    else:
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
        filename = f"govdash-report-{report.pk}-findings.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-SHA256"] = report.sha256 if what == "pdf" else report.csv_sha256
    return response


@private_no_store
@require_GET
def report_download_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, pk, "pdf")


@private_no_store
@require_GET
def report_csv_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, pk, "csv")
