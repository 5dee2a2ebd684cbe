"""The compliance runs table and its CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from reports.models import Assessment
from tests.reports_pages.conftest import RUNS_PAGE_QUERIES, SCRIPT, ComplianceMirror

pytestmark = pytest.mark.django_db

RISK_ORDER = ["none", "low", "medium", "high", "critical"]


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("rita", "reviewer"))
    return client


def _records(response) -> list:  # type: ignore[no-untyped-def]
    return [row.record for row in response.context["table"].paginated_rows]


def test_table_lists_visible_runs_with_their_current_verdict(
    reader: Client, compliance_mirror: ComplianceMirror
):
    response = reader.get(reverse("reports:runs"))
    assert response.status_code == 200
    records = {run.pk: run for run in _records(response)}
    assert compliance_mirror.deleted.pk not in records  # type: ignore[union-attr]
    assert records[compliance_mirror.unassessed.pk].verdict is None  # type: ignore[union-attr]
    current = {a.run_id: a for a in Assessment.objects.filter(is_current=True)}
    for run in compliance_mirror.assessed:
        assert records[run.pk].verdict == current[run.pk].verdict
        assert records[run.pk].risk == current[run.pk].risk
        assert records[run.pk].score == current[run.pk].score
    html = response.content.decode()
    assert "Not assessed" in html


def test_failed_rules_column_names_the_rules(reader: Client, compliance_mirror: ComplianceMirror):
    response = reader.get(reverse("reports:runs"), {"verdict": "non_compliant"})
    table = response.context["table"]
    for run in _records(response):
        failed = set(
            Assessment.objects.get(pk=run.assessment_id)
            .results.filter(outcome="fail")
            .values_list("rule_id", flat=True)
        )
        assert set(table.failed_map[run.assessment_id]) == failed
        assert failed


def test_the_table_sorts_by_start_time_only(reader: Client, compliance_mirror: ComplianceMirror):
    # A keyset table (kernel.tables): verdict, risk and score are filters, not sorts,
    # since no index serves them; a sort by them shows the default order.
    newest = _records(reader.get(reverse("reports:runs")))
    # Newest first, runs with no start time before them (the index's order).
    starts = [(r.start_time is None, r.start_time or 0) for r in newest]
    assert starts == sorted(starts, reverse=True)
    oldest = _records(reader.get(reverse("reports:runs"), {"sort": "start_time"}))
    assert [r.pk for r in oldest] == [r.pk for r in reversed(newest)]
    for sort in ("risk", "-score", "verdict"):
        response = reader.get(reverse("reports:runs"), {"sort": sort})
        assert [r.pk for r in _records(response)] == [r.pk for r in newest], sort
        assert f"sort={sort.lstrip('-')}" not in response.content.decode()


def test_verdict_none_and_pending_filters(reader: Client, compliance_mirror: ComplianceMirror):
    none = _records(reader.get(reverse("reports:runs"), {"verdict": "none"}))
    assert [r.pk for r in none] == [compliance_mirror.unassessed.pk]  # type: ignore[union-attr]
    pending = _records(reader.get(reverse("reports:runs"), {"pending": "yes"}))
    assert {r.pk for r in pending} == {
        compliance_mirror.unassessed.pk,  # type: ignore[union-attr]
        compliance_mirror.changed.pk,  # type: ignore[union-attr]
    }


def test_synced_text_is_escaped_in_the_table(reader: Client, compliance_mirror: ComplianceMirror):
    html = reader.get(reverse("reports:runs")).content.decode()
    assert SCRIPT not in html
    assert "run &lt;script&gt;" in html


def test_csv_export_has_the_filtered_rows_and_is_audited(
    reader: Client, compliance_mirror: ComplianceMirror
):
    params = {"source": "beta", "verdict": "non_compliant"}
    response = reader.get(reverse("reports:runs-csv"), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    want = {
        a.run.run_id: a
        for a in Assessment.objects.filter(
            is_current=True, verdict="non_compliant", run__source__name="beta"
        ).select_related("run", "run__experiment")
    }
    assert {row["run_id"] for row in rows} == set(want)
    for row in rows:
        assessment = want[row["run_id"]]
        assert row["verdict"] == "non_compliant"
        assert row["risk"] == assessment.risk
        assert row["score"] == str(assessment.score)
        assert row["source"] == "beta"
        assert row["experiment"] == assessment.run.experiment.name
        assert row["classification"] == assessment.run.classification
        assert row["policy"] == "default"
        assert row["policy_version"] == "1"
        failed = assessment.results.filter(outcome="fail").values_list("rule_id", flat=True)
        assert row["failed_rules"].split(";") == list(failed)
        assert row["assessed_at"].startswith(assessment.assessed_at.date().isoformat())
    event = AuditEvent.objects.get(action="reports.export_csv")
    assert event.actor_username == "rita"
    assert event.data["filters"] == {"policy": "default", **params}


def test_csv_lists_unassessed_runs_and_defuses_formulas(
    reader: Client, compliance_mirror: ComplianceMirror
):
    from tests import factories

    hostile = ["=HYPERLINK(1)", "  =1+1", "\uff1dSUM(A1)", "\t@cmd"]
    for name in hostile:
        factories.run(compliance_mirror.experiments["finance"], run_name=name)
    response = reader.get(reverse("reports:runs-csv"), {"verdict": "none"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["verdict"] for row in rows} == {"not_assessed"}
    # The same helper as every CSV (kernel.csv): leading spaces and full-width signs too.
    names = {row["run_name"] for row in rows}
    assert {"'" + name for name in hostile} <= names
    assert all(row["failed_rules"] == "" and row["risk"] == "" for row in rows)


def test_csv_of_everything_streams_every_visible_run(
    reader: Client, compliance_mirror: ComplianceMirror
):
    response = reader.get(reverse("reports:runs-csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["run_id", "run_name", "mirror_id"]
    assert len(rows) - 1 == len(compliance_mirror.assessed) + 1  # + the unassessed run


def test_runs_table_query_count_is_pinned(
    reader: Client, compliance_mirror: ComplianceMirror, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    # The same number as with 100,000 runs (test_scale).
    with django_assert_num_queries(RUNS_PAGE_QUERIES):
        assert reader.get(reverse("reports:runs"), {"sort": "start_time"}).status_code == 200
