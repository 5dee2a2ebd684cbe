"""The compliance dashboard: every figure against counts made independently."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports import rollups
from reports.models import AssessmentBatch
from reports.selectors.dashboard import rollups_answer
from reports.services import assess_recover, assessment_request_create
from tests.attention import attention, minute, recovered_at
from tests.reports_pages.conftest import (
    DASHBOARD_QUERIES,
    DASHBOARD_ROLLUP_QUERIES,
    SCRIPT,
    T0,
    ComplianceMirror,
    expected,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("rita", "reviewer"))
    return client


@pytest.fixture(params=["live", "rollups"])
def figures_from(request, compliance_mirror: ComplianceMirror) -> str:  # type: ignore[no-untyped-def]
    """Each figure test twice: aggregated live, and read from the rollups
    (rebuilt from the mirror's rows; kept current from then on)."""
    if request.param == "rollups":
        rollups.rebuild()
    return str(request.param)


def _check_source(response, figures_from: str) -> None:  # type: ignore[no-untyped-def]
    """The summary came from where the test asked (dates: always live)."""
    filters = response.context["summary"].filters
    assert rollups_answer(filters) == (figures_from == "rollups" and not filters.since)


def _tallies(tallies) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    return {
        t.key: {
            "total": t.total,
            "compliant": t.compliant,
            "non_compliant": t.non_compliant,
            "error": t.error,
            **{f"risk_{level}": n for level, n in t.risk.items()},
        }
        for t in tallies
    }


def _as_dicts(groups) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    keys = ["total", "compliant", "non_compliant", "error"] + [
        f"risk_{level}" for level in ("none", "low", "medium", "high", "critical")
    ]
    return {key: {k: counter[k] for k in keys} for key, counter in groups.items()}


def _check_summary(summary, want) -> None:  # type: ignore[no-untyped-def]
    assert summary.runs == want.runs
    assert summary.totals.total == want.assessed
    assert summary.not_assessed == want.not_assessed
    assert summary.awaiting == want.awaiting
    for verdict in ("compliant", "non_compliant", "error"):
        assert getattr(summary.totals, verdict) == want.verdicts[verdict], verdict
    assert summary.totals.risk == {
        level: want.risks[level] for level in ("none", "low", "medium", "high", "critical")
    }
    assert _tallies(summary.by_source) == _as_dicts(want.by_source)
    assert _tallies(summary.by_experiment) == _as_dicts(want.by_experiment)
    assert _tallies(summary.by_department) == _as_dicts(want.by_department)
    assert _tallies(summary.by_classification) == _as_dicts(want.by_classification)
    trend = {
        p.week_start: (p.compliant, p.non_compliant, p.error) for p in summary.trend if p.total
    }
    assert trend == {
        week: (c["compliant"], c["non_compliant"], c["error"]) for week, c in want.weeks.items()
    }
    assert {r.rule_id: r.runs for r in summary.failing_rules} == dict(want.failing)


def test_dashboard_figures_equal_counts_made_from_the_rows(
    reader: Client, compliance_mirror: ComplianceMirror, figures_from: str
):
    response = reader.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    _check_source(response, figures_from)
    want = expected(compliance_mirror.version)
    # The mirror is varied enough for every figure to mean something.
    assert want.verdicts["compliant"]
    assert want.verdicts["non_compliant"]
    assert want.verdicts["error"]
    assert want.not_assessed == 1
    assert want.awaiting == 2
    _check_summary(response.context["summary"], want)
    html = response.content.decode()
    assert f'data-figure="non_compliant">{want.verdicts["non_compliant"]}<' in html
    assert f'data-figure="not_assessed">{want.not_assessed}<' in html
    assert f'<span data-figure="awaiting">{want.awaiting}</span>' in html


def test_classification_groups_ignore_case_and_spaces_and_name_blank_none(
    reader: Client, compliance_mirror: ComplianceMirror, figures_from: str
):
    summary = reader.get(reverse("reports:dashboard")).context["summary"]
    keys = {t.key for t in summary.by_classification}
    assert {"official", "secret", "(none)"} <= keys
    assert "Official " not in keys
    assert "SECRET" not in keys
    departments = {t.key: t.total for t in summary.by_department}
    assert departments["risk"] == 7  # "Risk" and " risk " together
    assert departments["(none)"] == 2


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"source": "alpha"}, lambda run: run.source.name == "alpha"),
        (
            {"department": "risk"},
            lambda run: run.experiment.tags.get("department", "").strip().casefold() == "risk",
        ),
        (
            {"department": "(none)"},
            lambda run: not run.experiment.tags.get("department", "").strip(),
        ),
        (
            {"classification": "official"},
            lambda run: run.classification.strip().casefold() == "official",
        ),
        ({"classification": "(none)"}, lambda run: not run.classification.strip()),
        (
            {"since": "2026-03-09", "until": "2026-03-15"},
            lambda run: (
                run.start_time is not None
                and dt.date(2026, 3, 9) <= run.start_time.date() <= dt.date(2026, 3, 15)
            ),
        ),
    ],
    ids=["source", "department", "no-department", "classification", "no-classification", "dates"],
)
def test_filters_narrow_every_figure(reader: Client, compliance_mirror, figures_from, params, keep):  # type: ignore[no-untyped-def]
    response = reader.get(reverse("reports:dashboard"), params)
    _check_source(response, figures_from)
    assert response.status_code == 200
    want = expected(compliance_mirror.version, keep)
    assert want.runs  # the filter keeps something
    _check_summary(response.context["summary"], want)


@pytest.mark.parametrize(
    ("built", "params", "because"),
    [
        (True, {}, None),
        (True, {"source": "alpha"}, None),
        (True, {"since": "2026-03-09"}, "a date filter is finer than the weekly totals"),
        (False, {"until": "2026-03-15"}, "a date filter is finer than the weekly totals"),
        (False, {}, "the weekly totals have not been built yet"),
    ],
    ids=["rollups", "rollups-filtered", "dates", "dates-unbuilt", "unbuilt"],
)
def test_the_page_says_when_it_counted_run_by_run(
    reader: Client, compliance_mirror: ComplianceMirror, built, params, because
):  # type: ignore[no-untyped-def]
    if built:
        rollups.rebuild()
    response = reader.get(reverse("reports:dashboard"), params)
    summary = response.context["summary"]
    html = unescape(response.content.decode())
    assert rollups_answer(summary.filters) == (because is None)
    if because is None:
        assert summary.counted_live == ""
        assert "data-counted-live" not in html
    else:
        assert summary.counted_live == because
        assert f"Counted run by run, because {because}" in html
    # Wherever they came from, the figures are the rows' own.
    _check_summary(summary, expected(compliance_mirror.version, lambda run: _within(run, params)))


def _within(run, params) -> bool:  # type: ignore[no-untyped-def]
    day = run.start_time.date() if run.start_time else None
    if params.get("source") and run.source.name != params["source"]:
        return False
    if "since" in params and (day is None or day < dt.date.fromisoformat(params["since"])):
        return False
    return not ("until" in params and (day is None or day > dt.date.fromisoformat(params["until"])))


def test_experiment_filter(reader: Client, compliance_mirror: ComplianceMirror, figures_from: str):
    experiment = compliance_mirror.experiments["risk2"]
    response = reader.get(reverse("reports:dashboard"), {"experiment": experiment.pk})
    _check_source(response, figures_from)
    want = expected(compliance_mirror.version, lambda run: run.experiment_id == experiment.pk)
    _check_summary(response.context["summary"], want)


def test_every_figure_links_to_a_runs_table_showing_exactly_those_runs(
    reader: Client, compliance_mirror: ComplianceMirror, figures_from: str
):
    response = reader.get(reverse("reports:dashboard"), {"source": "alpha"})
    html = response.content.decode()
    links = {
        unescape(href)
        for href in re.findall(r'href="([^"]*)"', html)
        if href.startswith(reverse("reports:runs"))
    }
    assert len(links) > 20
    context = response.context
    counted = {}
    for breakdown in context["breakdowns"]:
        for row in breakdown.rows:
            counted[row.url] = row.tally.total
            counted[row.non_compliant_url] = row.tally.non_compliant
    for row in context["risk_rows"]:
        counted[row["url"]] = row["count"]
    for row in context["rule_rows"]:
        counted[row["url"]] = row["rule"].runs
    for row in context["trend_rows"]:
        counted[row["non_compliant_url"]] = row["point"].non_compliant
    summary = context["summary"]
    counted[context["links"]["not_assessed"]] = summary.not_assessed
    counted[context["links"]["awaiting"]] = summary.awaiting
    counted[context["links"]["non_compliant"]] = summary.totals.non_compliant
    assert set(counted) <= links
    for url, count in counted.items():
        # The dashboard's filters carry into the table.
        assert parse_qs(urlparse(url).query)["source"] == ["alpha"]
        table = reader.get(url).context["table"]
        assert table.paginator.count == count, url


def test_trend_weeks_are_filled_and_named_by_their_monday(
    reader: Client, compliance_mirror: ComplianceMirror, figures_from: str
):
    trend = reader.get(reverse("reports:dashboard")).context["summary"].trend
    assert [p.week_start for p in trend] == [
        (T0 + dt.timedelta(weeks=w)).date() for w in range(len(trend))
    ]
    assert all(p.week_start.weekday() == 0 for p in trend)


def test_synced_text_is_escaped_on_the_dashboard(
    reader: Client, compliance_mirror: ComplianceMirror
):
    html = reader.get(reverse("reports:dashboard")).content.decode()
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html


def test_charts_are_labelled_images_with_a_table_next_to_them(
    reader: Client, compliance_mirror: ComplianceMirror
):
    html = reader.get(reverse("reports:dashboard")).content.decode()
    charts = re.findall(r"<svg[^>]*>", html)
    assert len(charts) >= 7
    for tag in charts:
        assert 'role="img"' in tag
        ids = re.search(r'aria-labelledby="([^"]+)"', tag).group(1).split()  # type: ignore[union-attr]
        for element_id in ids:
            assert f'id="{element_id}"' in html
    assert "<script" not in "".join(re.findall(r"<svg.*?</svg>", html, re.S))


def test_dashboard_without_assessments_shows_zeroes(reader: Client, default_policy):  # type: ignore[no-untyped-def]
    response = reader.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary.totals.total == 0
    assert summary.totals.rate is None
    assert summary.trend == []


def test_bad_filter_values_are_reported_and_ignored(
    reader: Client, compliance_mirror: ComplianceMirror
):
    response = reader.get(
        reverse("reports:dashboard"),
        {"source": "nope", "since": "2026-04-01", "until": "2026-03-01"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "source" in form.errors
    assert "until" in form.errors
    _check_summary(
        response.context["summary"],
        expected(
            compliance_mirror.version,
            lambda run: run.start_time is not None and run.start_time.date() >= dt.date(2026, 4, 1),
        ),
    )


LONG_AGO = timezone.now() - dt.timedelta(hours=2)


def _overdue_and_recovered_batches(mirror: ComplianceMirror) -> tuple[AssessmentBatch, ...]:
    """Of one request: a batch queued two hours ago and never started, one
    running with no heartbeat as long, and one the maintenance tick gave up on."""
    request = assessment_request_create(
        version=mirror.version, runs=[run.pk for run in mirror.assessed[:3]], reason="test"
    )
    ids = list(request.batches.values_list("pk", flat=True))
    AssessmentBatch.objects.filter(pk__in=ids).delete()
    waiting, running, lost = (
        AssessmentBatch.objects.create(request=request, run_ids=[run.pk], heartbeat_at=LONG_AGO)
        for run in mirror.assessed[:3]
    )
    AssessmentBatch.objects.filter(pk__in=[running.pk, lost.pk]).update(
        status="running", attempts=3
    )
    lost.refresh_from_db()
    (moved,) = assess_recover(
        batches=[lost],
        action="failed",
        reason="the worker stopped reporting; gave up after 3 attempts",
        new_job_ids=lambda: "unused",
    )
    return waiting, running, moved


def test_dashboard_shows_overdue_and_recovered_batches_with_when_and_why(
    reader: Client, compliance_mirror: ComplianceMirror
):  # type: ignore[no-untyped-def]
    waiting, running, lost = _overdue_and_recovered_batches(compliance_mirror)
    heading, items = attention(reader.get(reverse("reports:dashboard")).content.decode())
    assert heading == "Assessment batches needing attention"
    request, policy = waiting.request_id, "Default ML governance baseline v1"
    assert items == [
        f"Overdue: Batch #{waiting.pk} of assessment request #{request} ({policy}) · "
        f"since {minute(LONG_AGO)} · queued for over 120 s and not started: "
        "is a worker listening on the assess queue?",
        f"Overdue: Batch #{running.pk} of assessment request #{request} ({policy}) · "
        f"since {minute(LONG_AGO)} · running, no progress reported for over 120 s: "
        "its worker may be gone; the maintenance tick queues it again",
        f"Recovered: failed: Batch #{lost.pk} of assessment request #{request} · "
        f"{recovered_at('reports.assess_recover')} · "
        "the worker stopped reporting; gave up after 3 attempts",
    ]


def test_dashboard_queries_do_not_grow_with_work_needing_attention(
    reader: Client, compliance_mirror: ComplianceMirror, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    # One more than the pin: the activity panel's progress, once requests exist.
    _overdue_and_recovered_batches(compliance_mirror)
    with django_assert_num_queries(DASHBOARD_QUERIES + 1):
        reader.get(reverse("reports:dashboard"))
    for _ in range(3):
        _overdue_and_recovered_batches(compliance_mirror)
    with django_assert_num_queries(DASHBOARD_QUERIES + 1):
        html = reader.get(reverse("reports:dashboard")).content.decode()
    assert html.count('data-attention="overdue"') == 8
    assert html.count('data-attention="failed"') == 4


def test_dashboard_query_count_from_rollups_is_pinned(
    reader: Client, compliance_mirror: ComplianceMirror, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    rollups.rebuild()
    # The same number as with 100,000 runs (test_scale).
    with django_assert_num_queries(DASHBOARD_ROLLUP_QUERIES):
        response = reader.get(reverse("reports:dashboard"))
    assert rollups_answer(response.context["summary"].filters)


def test_dashboard_query_count_is_pinned(
    reader: Client, compliance_mirror: ComplianceMirror, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    # The same number as with 100,000 runs (test_scale).
    with django_assert_num_queries(DASHBOARD_QUERIES):
        assert reader.get(reverse("reports:dashboard")).status_code == 200
