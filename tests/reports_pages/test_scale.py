"""100,000 runs with current assessments: the pages stay at a constant number of queries.

The rows are bulk-created once for the module (building them through the
services would take minutes) and removed afterwards. The expected figures are
counted while the rows are generated, from the same rules that generate them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports import rollups
from reports.models import Assessment, Policy, PolicyVersion, RuleResult
from reports.selectors.dashboard import rollups_answer
from reports.services import _rules_hash, parse_policy_yaml
from tests.reports_pages.conftest import (
    DASHBOARD_QUERIES,
    DASHBOARD_ROLLUP_QUERIES,
    RUNS_PAGE_QUERIES,
    SUMMARY_API_QUERIES,
)
from tracking.models import Experiment, Run, Source

pytestmark = pytest.mark.django_db

RUNS = 100_000
EXPERIMENTS = 40
CLASSIFICATIONS = ["official", "Official ", "SECRET", "secret", "", "public", "top-secret"]
DEPARTMENTS = ["Risk", " risk", "Finance", None]
RISKS = ["low", "medium", "high", "critical"]
START = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)


@dataclass
class Scale:
    version: PolicyVersion
    runs: int = 0
    assessed: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    risks: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    by_department: Counter[str] = field(default_factory=Counter)
    by_classification: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)
    non_compliant_in_alpha: int = 0


def _normalise(value: str | None) -> str:
    return (value or "").strip().casefold() or "(none)"


def _published_default_policy() -> PolicyVersion:
    """As the data migration ships it (no audit events left behind)."""
    from django.conf import settings

    parsed = parse_policy_yaml((settings.BASE_DIR / "reports" / "default_policy.yaml").read_text())
    policy, _ = Policy.objects.get_or_create(
        slug="default", defaults={"name": parsed["name"], "description": parsed["description"]}
    )
    version = policy.current_version()
    if version is None:
        version = PolicyVersion.objects.create(
            policy=policy,
            number=1,
            rules=parsed["rules"],
            content_hash=_rules_hash(parsed["rules"]),
            published_at=timezone.now(),
        )
    return version


def _build() -> Scale:
    version = _published_default_policy()
    scale = Scale(version=version)
    sources = [Source.objects.create(name=f"scale-{n}", url="http://127.0.0.1:9") for n in range(3)]
    experiments = [
        Experiment.objects.create(
            source=sources[n % 3],
            experiment_id=f"scale-{n}",
            name=f"scale experiment {n}",
            tags={} if DEPARTMENTS[n % 4] is None else {"department": DEPARTMENTS[n % 4]},
            content_hash="x",
        )
        for n in range(EXPERIMENTS)
    ]
    runs = []
    for i in range(RUNS):
        experiment = experiments[i % EXPERIMENTS]
        runs.append(
            Run(
                source=experiment.source,
                experiment=experiment,
                run_id=f"scale{i:027x}",
                run_name=f"scale run {i}",
                status="FINISHED",
                start_time=START + dt.timedelta(minutes=5 * i),
                user_id="ana",
                lifecycle_stage="deleted" if i % 97 == 0 else "active",
                tags={"classification": CLASSIFICATIONS[i % 7]},
                classification=CLASSIFICATIONS[i % 7],
                content_hash=f"{i:064x}",
                facts_hash=f"{i:064x}",
            )
        )
    runs = Run.objects.bulk_create(runs, batch_size=5000)
    assessments: list[Assessment] = []
    failing: list[list[str]] = []
    now = timezone.now()
    for i, run in enumerate(runs):
        visible = i % 97 != 0
        experiment = experiments[i % EXPERIMENTS]
        if visible:
            scale.runs += 1
        if i % 10 == 0:
            continue  # never assessed
        if i % 3 == 0:
            verdict, risk = "non_compliant", RISKS[i % 4]
            rules = ["data-classification"] + (["encryption"] if i % 2 else [])
        elif i % 11 == 0:
            verdict, risk, rules = "error", "none", []
        else:
            verdict, risk, rules = "compliant", "none", []
        assessments.append(
            Assessment(
                run=run,
                policy=version.policy,
                policy_version=version,
                run_content_hash=run.facts_hash,
                verdict=verdict,
                risk=risk,
                score=7 * len(rules),
                failed_rules=len(rules),
                assessed_at=now - dt.timedelta(seconds=i),
                is_current=True,
            )
        )
        failing.append(rules)
        if not visible:
            continue
        scale.assessed += 1
        scale.verdicts[verdict] += 1
        scale.risks[risk] += 1
        scale.by_source[experiment.source.name] += 1
        scale.by_department[_normalise(DEPARTMENTS[i % 4])] += 1
        scale.by_classification[_normalise(CLASSIFICATIONS[i % 7])] += 1
        for rule in rules:
            scale.failing[rule] += 1
        if verdict == "non_compliant" and experiment.source.name == "scale-0":
            scale.non_compliant_in_alpha += 1
    created = Assessment.objects.bulk_create(assessments, batch_size=5000)
    RuleResult.objects.bulk_create(
        (
            RuleResult(
                assessment=assessment,
                rule_id=rule,
                title=rule,
                severity="high",
                outcome="fail",
                message="failed",
            )
            for assessment, rules in zip(created, failing, strict=True)
            for rule in rules
        ),
        batch_size=5000,
    )
    return scale


@pytest.fixture(scope="module")
def scale(django_db_setup, django_db_blocker) -> Iterator[Scale]:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        with transaction.atomic():
            built = _build()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # as autovacuum would after such a load
                cursor.execute("ANALYZE")
        try:
            yield built
        finally:
            with transaction.atomic():
                runs = Run.objects.filter(source__name__startswith="scale-")
                assessments = Assessment.objects.filter(run__in=runs)
                RuleResult.objects.filter(assessment__in=assessments)._raw_delete("default")
                assessments._raw_delete("default")
                runs._raw_delete("default")
                Experiment.objects.filter(source__name__startswith="scale-")._raw_delete("default")
                Source.objects.filter(name__startswith="scale-")._raw_delete("default")


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("rita", "reviewer"))
    return client


def _assert_generated_counts(summary, scale: Scale) -> None:  # type: ignore[no-untyped-def]
    assert summary.runs == scale.runs
    assert summary.totals.total == scale.assessed
    assert summary.not_assessed == scale.runs - scale.assessed
    assert summary.awaiting == scale.runs - scale.assessed
    for verdict in ("compliant", "non_compliant", "error"):
        assert getattr(summary.totals, verdict) == scale.verdicts[verdict]
    assert summary.totals.risk == {level: scale.risks[level] for level in ("none", *RISKS)}
    assert {t.key: t.total for t in summary.by_source} == dict(scale.by_source)
    assert {t.key: t.total for t in summary.by_department} == dict(scale.by_department)
    assert {t.key: t.total for t in summary.by_classification} == dict(scale.by_classification)
    assert {r.rule_id: r.runs for r in summary.failing_rules} == dict(scale.failing)
    assert len(summary.trend) == 26
    assert len(summary.latest_non_compliant) == 10


def test_dashboard_query_count_is_constant_at_100k_runs(
    reader: Client, scale: Scale, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = reader.get(reverse("reports:dashboard"))
    assert response.status_code == 200


def test_dashboard_figures_at_100k_runs_equal_the_generated_counts(reader: Client, scale: Scale):
    summary = reader.get(reverse("reports:dashboard")).context["summary"]
    _assert_generated_counts(summary, scale)


def test_dashboard_from_rollups_at_100k_runs_equals_the_generated_counts_in_fewer_queries(
    reader: Client, scale: Scale, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    rollups.rebuild()
    assert not any(rollups.check().values())
    with django_assert_num_queries(DASHBOARD_ROLLUP_QUERIES):
        response = reader.get(reverse("reports:dashboard"))
    summary = response.context["summary"]
    assert rollups_answer(summary.filters)
    _assert_generated_counts(summary, scale)
    experiment = Experiment.objects.get(experiment_id="scale-1")
    params = {"source": "scale-1", "experiment": experiment.pk, "classification": "official"}
    with django_assert_num_queries(DASHBOARD_ROLLUP_QUERIES + 2):  # source, experiment
        filtered = reader.get(reverse("reports:dashboard"), params).context["summary"]
    assert rollups_answer(filtered.filters)
    assert 0 < filtered.totals.total < scale.assessed


def test_filtered_dashboard_query_count_is_the_same(
    reader: Client, scale: Scale, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    experiment = Experiment.objects.get(experiment_id="scale-1")
    params = {
        "source": "scale-1",
        "experiment": experiment.pk,
        "department": "risk",
        "classification": "official",
        "since": "2025-12-01",
        "until": "2026-06-30",
    }
    with django_assert_num_queries(DASHBOARD_QUERIES + 2):  # source and experiment validated
        response = reader.get(reverse("reports:dashboard"), params)
    assert response.status_code == 200
    assert not response.context["form"].errors
    summary = response.context["summary"]
    assert 0 < summary.totals.total < scale.assessed
    assert summary.latest_non_compliant


def test_runs_table_first_and_deep_page_cost_the_same(
    reader: Client, scale: Scale, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    with django_assert_num_queries(RUNS_PAGE_QUERIES):
        first = reader.get(reverse("reports:runs"))
    assert first.context["table"].paginator.count == scale.runs
    # The last page: the index read backwards, not an OFFSET near 100,000.
    with django_assert_num_queries(RUNS_PAGE_QUERIES):
        response = reader.get(reverse("reports:runs"), {"cursor": "last"})
    table = response.context["table"]
    assert table.page.has_previous()
    assert not table.page.has_next()
    records = [row.record for row in table.paginated_rows]
    assert len(records) == 50
    oldest = list(Run.objects.visible().order_by(F("start_time").asc(nulls_last=True), "id")[:50])
    assert [record.pk for record in records] == [run.pk for run in reversed(oldest)]
    with django_assert_num_queries(RUNS_PAGE_QUERIES):
        previous = reader.get(reverse("reports:runs"), {"cursor": table.page.previous_cursor})
    assert len(previous.context["table"].page.object_list) == 50


def test_runs_table_filtered_by_figure_matches_it(reader: Client, scale: Scale):
    response = reader.get(
        reverse("reports:runs"), {"source": "scale-0", "verdict": "non_compliant"}
    )
    assert response.context["table"].paginator.count == scale.non_compliant_in_alpha


def test_summary_api_query_count_is_constant(
    reader: Client, scale: Scale, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    with django_assert_num_queries(SUMMARY_API_QUERIES):
        response = reader.get("/api/v1/compliance/summary")
    assert response.status_code == 200
    assert response.json()["totals"]["total"] == scale.assessed


def test_csv_streams_every_row(reader: Client, scale: Scale):
    response = reader.get(reverse("reports:runs-csv"))
    lines = 0
    reader_ = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    header = next(reader_)
    assert header[0] == "run_id"
    for _row in reader_:
        lines += 1
    assert lines == scale.runs
