"""The experiment compliance report, rendered for real and read back with pypdf.

Every figure is checked against counts made here with plain ORM queries, never
through the selectors that built the report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter

import pytest
from pypdf import PdfReader

from audit.models import AuditEvent
from reports.models import Assessment, Report
from tests import factories
from tests.reports_documents.conftest import (
    attached_evidence,
    generate,
    pdf_attachments,
    pdf_text,
    stored_pdf,
)
from tracking.models import Run

pytestmark = pytest.mark.django_db


def figure(text: str, label: str) -> int:
    found = re.search(rf"^{re.escape(label)} (\d+)$", text, re.MULTILINE)
    assert found, f"{label!r} not in the summary"
    return int(found.group(1))


@pytest.mark.parametrize("key", ["finance", "risk2"])
def test_summary_equals_independent_counts(compliance_mirror, make_user, key):
    experiment = compliance_mirror.experiments[key]
    officer = make_user("officer", "compliance-officer")
    report = generate(
        "experiment", {"source": experiment.source.name, "experiment": experiment.name}, officer
    )
    assert report.status == Report.Status.DONE, report.error
    pdf = stored_pdf(report)
    text = pdf_text(pdf)

    runs = Run.objects.filter(experiment=experiment, lifecycle_stage="active", gone_at=None)
    current = Assessment.objects.filter(run__in=runs, is_current=True, policy__slug="default")
    verdicts = Counter(current.values_list("verdict", flat=True))
    assert figure(text, "Runs in the experiment") == runs.count()
    assert figure(text, "Assessed") == current.count()
    assert figure(text, "Compliant") == verdicts["compliant"]
    assert figure(text, "Non-compliant") == verdicts["non_compliant"]
    assert figure(text, "Error") == verdicts["error"]
    assert figure(text, "Not assessed") == runs.count() - current.count()
    assert sum(verdicts.values()) > 0
    assert verdicts["non_compliant"] or verdicts["error"]

    # Every run is in the appendix, by its MLflow run id.
    for run_id in runs.values_list("run_id", flat=True):
        assert run_id in text

    # The attachments: the JSON is the evidence that was hashed; the CSV has one row per run.
    files = pdf_attachments(pdf)
    assert hashlib.sha256(files["evidence.json"]).hexdigest() == report.evidence_sha256
    evidence = json.loads(files["evidence.json"])
    assert evidence["summary"]["compliant"] == verdicts["compliant"]
    assert evidence["summary"]["non_compliant"] == verdicts["non_compliant"]
    assert sorted(r["run_id"] for r in evidence["runs"]) == sorted(
        runs.values_list("run_id", flat=True)
    )
    rows = list(csv.DictReader(io.StringIO(files["findings.csv"].decode())))
    assert Counter(row["verdict"] for row in rows if row["verdict"] != "none") == verdicts
    failing = {
        rule_id
        for a in current.prefetch_related("results")
        for rule_id in [r.rule_id for r in a.results.all() if r.outcome == "fail"]
    }
    assert {f["rule_id"] for f in evidence["failing_rules"]} == failing
    # The CSV beside the report is the attached one.
    from reports.documents.storage import report_storage

    with report_storage().open(report.csv_name, "rb") as handle:
        assert handle.read() == files["findings.csv"]


def test_every_page_is_numbered_and_names_the_report(compliance_mirror, make_user):
    experiment = compliance_mirror.experiments["risk"]
    report = generate(
        "experiment",
        {"source": experiment.source.name, "experiment": experiment.name},
        make_user("auditor", "auditor"),
    )
    pdf = stored_pdf(report)
    reader = PdfReader(io.BytesIO(pdf))
    pages = len(reader.pages)
    assert report.pages == pages
    assert report.size == len(pdf)
    assert pages >= 3
    assert report.sha256 == hashlib.sha256(pdf).hexdigest()
    for number, page in enumerate(reader.pages, start=1):
        page_text = page.extract_text()
        assert f"Page {number} of {pages}" in page_text
        assert f"Report #{report.pk}" in page_text
        assert "Generated 20" in page_text
    assert report.evidence_sha256 in reader.pages[-1].extract_text()
    # PDF/A-3b, tagged, with a language and a title.
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "en"
    assert root["/MarkInfo"]["/Marked"]
    assert b'pdfaid:part="3"' in root["/Metadata"].get_object().get_data()
    assert reader.metadata.title == f"Compliance report: {experiment.name}"
    # No certificate configured: unsigned, and the document says so.
    assert not report.signed
    assert "/Sig" not in str(root.get("/AcroForm", {}))
    assert "This PDF is not signed" in reader.pages[-1].extract_text()
    # The sha256 is in the generation's audit event.
    event = AuditEvent.objects.get(action="reports.report_generate", target_id=str(report.pk))
    assert event.data["sha256"] == report.sha256
    assert event.outcome == "success"


INJECTIONS = [
    '<img src="file:///etc/passwd">',
    '<a href="http://169.254.169.254/latest/meta-data/">x</a>',
    '<link rel="stylesheet" href="http://169.254.169.254/x.css">',
    "<style>@import url(http://169.254.169.254/y.css);</style>",
]


def test_injection_strings_render_as_text_and_nothing_is_fetched(default_policy, make_user):
    source = factories.source("alpha")
    experiment = factories.experiment(source, name='credit <img src="file:///etc/passwd">')
    for _n, value in enumerate(INJECTIONS):
        factories.run(
            experiment,
            run_name=value,
            tags={"classification": value, "note": value},
            params={"p": value},
        )
    from reports.services import assess_runs

    assess_runs(run_ids=list(experiment.runs.values_list("pk", flat=True)), version=default_policy)
    report = generate(
        "experiment",
        {"source": "alpha", "experiment": experiment.name},
        make_user("officer", "compliance-officer"),
    )
    assert report.status == Report.Status.DONE, report.error
    text = pdf_text(stored_pdf(report))
    flat = re.sub(r"\s+", "", text)
    for value in INJECTIONS:
        assert re.sub(r"\s+", "", value) in flat  # shown, as text
    assert report.refused_urls == []  # and the renderer was never asked for any of it
    assert attached_evidence(stored_pdf(report))["runs"][0]["run_name"] in INJECTIONS


def test_the_fetcher_refuses_and_records_what_raw_markup_asks_for():
    """The second wall: even unescaped markup fetches nothing but packaged assets."""
    from reports.documents.fetcher import asset_url
    from reports.documents.render import render_pdf

    html = (
        '<html lang="en"><head><title>t</title>'
        f'<link rel="stylesheet" href="{asset_url("report.css")}">'
        f'<link rel="stylesheet" href="{asset_url("../fetcher.py")}"></head><body>'
        + "".join(INJECTIONS)
        + '<img src="data:image/png;base64,iVBORw0KGgo=">'
        + "</body></html>"
    )
    rendered = render_pdf(html, [], timeout=120)
    assert rendered.served == [asset_url("report.css")]
    assert "file:///etc/passwd" in rendered.refused
    assert "http://169.254.169.254/x.css" in rendered.refused
    assert "http://169.254.169.254/y.css" in rendered.refused
    assert asset_url("../fetcher.py") in rendered.refused
    assert any(url.startswith("data:") for url in rendered.refused)


def _failed_cleanly(compliance_mirror, make_user, says: str) -> None:  # type: ignore[no-untyped-def]
    """An experiment report that fails with ``says`` in its error, stores no
    file and leaves a failed generation event saying the same."""
    from reports.documents.storage import report_storage

    experiment = compliance_mirror.experiments["risk"]
    report = generate(
        "experiment",
        {"source": experiment.source.name, "experiment": experiment.name},
        make_user("officer", "compliance-officer"),
    )
    assert report.status == Report.Status.FAILED
    assert "rendering failed:" in report.error or "longer than the limit" in report.error
    assert says in report.error
    assert report.file_name == ""
    assert report.sha256 == ""
    storage = report_storage()
    assert not storage.exists(f"{report.pk}/report-{report.pk}.pdf")
    assert not storage.exists(f"{report.pk}/report-{report.pk}.csv")
    event = AuditEvent.objects.get(action="reports.report_generate", target_id=str(report.pk))
    assert event.outcome == "failure"
    assert says in event.data["error"]


def test_a_render_past_the_time_limit_fails_cleanly(compliance_mirror, make_user, settings):
    settings.REPORT_TIMEOUT_SECONDS = 0.001
    _failed_cleanly(compliance_mirror, make_user, "longer than the limit")


def test_a_render_past_the_memory_limit_fails_cleanly(
    compliance_mirror, make_user, settings, monkeypatch
):  # type: ignore[no-untyped-def]
    from reports.documents import render

    settings.REPORT_MEMORY_MB = 10
    render.preload()  # the warm-up renders in this process: before the patch

    # How much a real render can take before the limit bites depends on the
    # free heap it inherits from this long-lived test process (test_render
    # exhausts the limit for real); here, the render child runs out of memory
    # wherever it is, and the report must say so with the configured limit.
    def out_of_memory(html, attachments):  # type: ignore[no-untyped-def]
        raise MemoryError

    monkeypatch.setattr(render, "render_in_process", out_of_memory)
    _failed_cleanly(
        compliance_mirror, make_user, "more memory than GOVDASH_REPORT_MEMORY_MB=10 allows"
    )
