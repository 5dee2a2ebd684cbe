"""The model version dossier (with a section contributed through the registry)
and the audit extract."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent, AuditHead
from kernel import registry
from kernel.registry import Panel
from reports.models import Report
from reports.services import assess_runs
from tests import factories
from tests.reports_documents.conftest import attached_evidence, generate, pdf_text, stored_pdf
from tracking.models import AliasChange, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_version(default_policy):
    source = factories.source("alpha")
    experiment = factories.experiment(source, name="credit")
    run = factories.run(experiment, params={"lr": "0.05", "depth": "<b>7</b>"})
    assess_runs(run_ids=[run.pk], version=default_policy)
    model = RegisteredModel.objects.create(
        source=source, name="scorer", aliases={"champion": "3"}, content_hash="m"
    )
    version = ModelVersion.objects.create(
        model=model,
        version="3",
        run=run,
        mlflow_run_id=run.run_id,
        source_uri="models:/scorer/3",
        tags={"owner": '<img src="http://169.254.169.254/">'},
        aliases=["champion"],
        content_hash="v",
    )
    AliasChange.objects.create(model=model, alias="champion", from_version="2", to_version="3")
    return version


@pytest.fixture
def approvals_section():
    """What approvals will contribute: a panel in the dossier slot with data."""
    panel = Panel(
        slot="reports.dossier",
        key="approvals",
        template="reports/documents/test_section.html",
        context=lambda request, obj: {},
        data=lambda version: {
            "votes": [{"user": "rev1", "decision": "approve"}],
            "v": version.version,
        },
    )
    installed = registry._panels.get("reports.dossier", {}).get("approvals")
    registry.register_panel(panel)
    yield panel
    registry._panels.get("reports.dossier", {}).pop("approvals", None)
    if installed is not None:
        registry.register_panel(installed)


def test_dossier_shows_the_version_its_run_and_contributed_sections(
    model_version, approvals_section, make_user, settings, tmp_path
):
    templates = tmp_path / "templates" / "reports" / "documents"
    templates.mkdir(parents=True)
    (templates / "test_section.html").write_text(
        "<h2>Approval chain</h2>"
        "{% for v in data.votes %}<p>vote {{ v.user }} {{ v.decision }}</p>{% endfor %}"
    )
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [str(tmp_path / "templates"), *settings.TEMPLATES[0]["DIRS"]],
        }
    ]
    reviewer = make_user("reviewer", "reviewer")  # reviewers may request dossiers
    report = generate(
        "model-version", {"source": "alpha", "model": "scorer", "version": "3"}, reviewer
    )
    assert report.status == Report.Status.DONE, report.error
    pdf = stored_pdf(report)
    text = pdf_text(pdf)
    assert "Model version dossier: scorer v3" in text
    assert "models:/scorer/3" in text
    assert "<b>7</b>" in text  # a param, as text
    assert '<img src="http://169.254.169.254/">' in re.sub(r"\s*\n\s*", "", text) or (
        "169.254.169.254" in text
    )
    assert report.refused_urls == []
    assert "Approval chain" in text
    assert "vote rev1 approve" in text
    evidence = attached_evidence(pdf)
    assert evidence["sections"] == {
        "approvals": {"votes": [{"user": "rev1", "decision": "approve"}], "v": "3"}
    }
    assert [c["to"] for c in evidence["alias_history"]] == ["3"]
    assert evidence["run"]["params"]["lr"] == "0.05"
    assert evidence["assessments"][0]["verdict"] in ("compliant", "non_compliant", "error")


@pytest.fixture
def no_contributions():
    """The dossier slot emptied (the approvals app contributes to it), then restored."""
    saved = dict(registry._panels.get("reports.dossier", {}))
    registry._panels["reports.dossier"] = {}
    yield
    registry._panels["reports.dossier"] = saved


def test_dossier_without_contributions_says_so(model_version, make_user, no_contributions):
    report = generate(
        "model-version",
        {"source": "alpha", "model": "scorer", "version": "3"},
        make_user("officer", "compliance-officer"),
    )
    text = pdf_text(stored_pdf(report))
    assert "No approval workflow contributed to this dossier." in text
    assert attached_evidence(stored_pdf(report))["sections"] == {}


def test_audit_extract_lists_the_range_and_verifies_the_chain(make_user):
    auditor = make_user("auditor", "auditor")
    from audit.actors import SystemActor
    from audit.services import record
    from reports.audit_actions import ReportsAction

    for _ in range(5):
        record(action=ReportsAction.EXPORT_CSV, system_actor=SystemActor.SYSTEM)
    today = timezone.now().date()
    report = generate(
        "audit",
        {"since": (today - dt.timedelta(days=1)).isoformat(), "until": today.isoformat()},
        auditor,
    )
    assert report.status == Report.Status.DONE, report.error
    pdf = stored_pdf(report)
    text = pdf_text(pdf)
    evidence = attached_evidence(pdf)
    expected = AuditEvent.objects.filter(timestamp__lte=report.created_at).count()
    assert len(evidence["events"]) == expected >= 5
    assert evidence["range_verification"]["intact"] is True
    assert "INTACT" in text
    # The head as it was when the extract was built (events were appended since).
    assert evidence["head"]["sequence"] <= AuditHead.objects.get().sequence
    at_head = AuditEvent.objects.get(sequence=evidence["head"]["sequence"])
    assert evidence["head"]["hash"] == at_head.hash
    assert evidence["head"]["hash"] in re.sub(r"\s+", "", text)
    assert hashlib.sha256(pdf).hexdigest() == report.sha256


def test_audit_extract_of_a_past_range_holds_nothing_newer(make_user):
    report = generate(
        "audit", {"since": "2000-01-01", "until": "2000-01-31"}, make_user("a", "auditor")
    )
    evidence = attached_evidence(stored_pdf(report))
    assert evidence["events"] == []
    assert evidence["range_verification"]["intact"]
