"""Downloads re-check the stored file; who may request and view which report."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from audit.models import AuditEvent
from kernel.roles import ALL_ROLES
from reports.documents.services import ReportTampered, report_download, report_request
from reports.documents.storage import report_storage
from reports.models import Report
from reports.permissions import may_request_report, may_view_report
from tests.reports_documents.conftest import generate, stored_pdf

pytestmark = pytest.mark.django_db


def _experiment_report(mirror, user):
    experiment = mirror.experiments["risk"]
    return generate(
        "experiment", {"source": experiment.source.name, "experiment": experiment.name}, user
    )


def test_every_download_is_audited_and_a_changed_file_is_refused(compliance_mirror, make_user):
    auditor = make_user("auditor", "auditor")
    report = _experiment_report(compliance_mirror, auditor)
    original = stored_pdf(report)
    assert report_download(report=report, actor=auditor) == original
    ok = AuditEvent.objects.get(action="reports.report_download", outcome="success")
    assert ok.data["sha256"] == report.sha256
    assert ok.actor_username == "auditor"

    # One byte changed in the stored file.
    path = report_storage().path(report.file_name)
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    with open(path, "wb") as handle:
        handle.write(bytes(tampered))
    with pytest.raises(ReportTampered, match="no longer matches"):
        report_download(report=report, actor=auditor)
    refused = AuditEvent.objects.get(action="reports.report_download", outcome="failure")
    assert refused.data["expected_sha256"] == report.sha256
    assert refused.data["actual_sha256"] not in ("", report.sha256)

    # A file that vanished is refused the same way.
    report_storage().delete(report.file_name)
    with pytest.raises(ReportTampered, match="missing"):
        report_download(report=report, actor=auditor)


def test_the_csv_beside_the_report_is_checked_too(compliance_mirror, make_user):
    officer = make_user("officer", "compliance-officer")
    report = _experiment_report(compliance_mirror, officer)
    assert report_download(report=report, actor=officer, what="csv").startswith(b"run_id,")
    with open(report_storage().path(report.csv_name), "ab") as handle:
        handle.write(b"forged,row\n")
    with pytest.raises(ReportTampered):
        report_download(report=report, actor=officer, what="csv")


EXPECTED_REQUEST = {
    "admin": {"experiment", "model-version", "audit"},
    "compliance-officer": {"experiment", "model-version", "audit"},
    "auditor": {"experiment", "model-version", "audit"},
    "reviewer": {"model-version"},
    "ml-engineer": set(),
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_who_may_request_and_view_which_kind(make_user, role):
    user = make_user(f"u-{role}", role)
    allowed = {k for k in ("experiment", "model-version", "audit") if may_request_report(user, k)}
    assert allowed == EXPECTED_REQUEST[role]
    audit = Report(kind="audit")
    experiment = Report(kind="experiment")
    assert may_view_report(user, experiment)
    assert may_view_report(user, audit) == (role in {"admin", "compliance-officer", "auditor"})


def test_a_refused_request_is_audited_and_records_nothing(compliance_mirror, make_user):
    reviewer = make_user("reviewer", "reviewer")
    experiment = compliance_mirror.experiments["risk"]
    with pytest.raises(PermissionDenied):
        report_request(
            kind="experiment",
            parameters={"source": experiment.source.name, "experiment": experiment.name},
            actor=reviewer,
        )
    assert not Report.objects.exists()
    denied = AuditEvent.objects.get(action="reports.report_request")
    assert denied.outcome == "denied"
    assert denied.actor_username == "reviewer"
    with pytest.raises(PermissionDenied):
        report_request(kind="audit", parameters={}, actor=make_user("eng", "ml-engineer"))
