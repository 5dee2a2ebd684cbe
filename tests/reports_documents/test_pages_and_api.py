"""The reports pages, the actions on other pages, and the API, end to end:
requests queue a real job on Redis; the test runs that job."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from audit.models import AuditEvent
from reports.documents.storage import report_storage
from reports.models import Report
from tests.reports_documents.conftest import generate, pdf_text
from tracking.models import ModelVersion, RegisteredModel

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def _run_queued_jobs(queue) -> None:  # type: ignore[no-untyped-def]
    for job in queue.jobs:
        job.perform()


def test_experiment_page_action_form_job_detail_and_download(
    client: Client, compliance_mirror, make_user, redis_queue
):
    queue = redis_queue("reports")
    client.force_login(make_user("officer", "compliance-officer"))
    experiment = compliance_mirror.experiments["risk"]
    page = client.get(experiment.get_absolute_url())
    assert b'data-action="generate-report"' in page.content
    form_url = reverse("reports:report-request") + "?kind=experiment"
    form = client.get(
        form_url, {"kind": "experiment", "source": "alpha", "experiment": experiment.name}
    )
    assert form.status_code == 200
    assert experiment.name.encode() in form.content
    answer = client.post(
        reverse("reports:report-request"),
        {"kind": "experiment", "source": "alpha", "experiment": experiment.name},
    )
    report = Report.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == report.get_absolute_url()
    assert queue.count == 1
    detail = client.get(report.get_absolute_url())
    assert b'data-polling="true"' in detail.content  # htmx polls while queued

    _run_queued_jobs(queue)
    report.refresh_from_db()
    assert report.status == Report.Status.DONE, report.error
    status = client.get(reverse("reports:report-status", args=[report.pk]))
    assert b'data-polling="false"' in status.content
    assert report.sha256.encode() in status.content
    assert b"Not signed" in status.content

    pdf = client.get(reverse("reports:report-download", args=[report.pk]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == report.sha256
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == report.pages
    csv = client.get(reverse("reports:report-csv", args=[report.pk]))
    assert csv.content.startswith(b"run_id,run_name")
    listing = client.get(reverse("reports:list"), {"kind": "experiment"})
    assert report.title.encode() in listing.content
    assert report.sha256[:12].encode() in listing.content
    downloads = AuditEvent.objects.filter(action="reports.report_download", outcome="success")
    assert downloads.count() == 2


def test_tampered_file_is_refused_with_409_an_alert_and_an_audit_event(
    client: Client, compliance_mirror, make_user
):
    auditor = make_user("auditor", "auditor")
    experiment = compliance_mirror.experiments["finance"]
    report = generate("experiment", {"source": "beta", "experiment": experiment.name}, auditor)
    path = report_storage().path(report.file_name)
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    data[-100] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    client.force_login(auditor)
    page = client.get(reverse("reports:report-download", args=[report.pk]))
    assert page.status_code == 409
    assert b'data-report-tampered="true"' in page.content
    assert b"Download refused" in page.content
    api = client.get(f"/api/v1/reports/{report.pk}/download")
    assert api.status_code == 409
    assert "no longer matches" in api.json()["detail"]
    refused = AuditEvent.objects.filter(action="reports.report_download", outcome="failure")
    assert refused.count() == 2
    assert {e.actor_username for e in refused} == {"auditor"}


def test_api_request_status_and_download(client: Client, compliance_mirror, make_user, redis_queue):
    queue = redis_queue("reports")
    client.force_login(make_user("auditor", "auditor"))
    answer = client.post(
        "/api/v1/reports",
        {"kind": "audit", "since": "2020-01-01"},
        content_type="application/json",
    )
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "queued"
    assert client.get(f"/api/v1/reports/{body['id']}").json()["status"] == "queued"
    _run_queued_jobs(queue)
    shown = client.get(f"/api/v1/reports/{body['id']}").json()
    assert shown["status"] == "done"
    assert shown["kind"] == "audit"
    assert shown["pages"] >= 2
    pdf = client.get(f"/api/v1/reports/{body['id']}/download")
    assert pdf.status_code == 200
    assert hashlib.sha256(pdf.content).hexdigest() == shown["sha256"]
    assert shown["size"] == len(pdf.content)
    assert "Audit extract" in pdf_text(pdf.content)


def test_api_refusals(client: Client, compliance_mirror, make_user):
    experiment = compliance_mirror.experiments["risk"]
    client.force_login(make_user("reviewer", "reviewer"))
    refused = client.post(
        "/api/v1/reports",
        {"kind": "experiment", "source": "alpha", "experiment": experiment.name},
        content_type="application/json",
    )
    assert refused.status_code == 403
    missing = client.post(
        "/api/v1/reports",
        {"kind": "model-version", "source": "alpha", "model": "nope", "version": "1"},
        content_type="application/json",
    )
    assert missing.status_code == 404
    assert not Report.objects.exists()


def test_audit_extracts_are_hidden_from_those_who_cannot_view_the_trail(client: Client, make_user):
    report = generate("audit", {}, make_user("auditor", "auditor"))
    client.force_login(make_user("engineer", "ml-engineer"))
    assert client.get(report.get_absolute_url()).status_code == 404
    assert client.get(f"/api/v1/reports/{report.pk}").status_code == 404
    assert client.get(f"/api/v1/reports/{report.pk}/download").status_code == 404
    assert report.title.encode() not in client.get(reverse("reports:list")).content


def test_version_and_audit_pages_offer_their_report_actions(client: Client, make_user, db):
    from tests import factories

    source = factories.source("alpha")
    model = RegisteredModel.objects.create(source=source, name="scorer", content_hash="m")
    version = ModelVersion.objects.create(model=model, version="1", content_hash="v")
    client.force_login(make_user("reviewer", "reviewer"))
    assert b'data-action="generate-dossier"' in client.get(version.get_absolute_url()).content
    client.force_login(make_user("auditor", "auditor"))
    assert b'data-action="generate-audit-extract"' in client.get(reverse("audit:log")).content
    client.force_login(make_user("engineer", "ml-engineer"))
    assert b"generate-dossier" not in client.get(version.get_absolute_url()).content
