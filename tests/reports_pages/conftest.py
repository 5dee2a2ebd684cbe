"""A small mirror assessed under the default policy through the real services.

Figures are checked against counts computed here, in plain Python, from the
rows themselves (``expected``): never by calling the selectors under test.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from reports.models import Assessment, PolicyVersion
from reports.services import assess_runs
from tests import factories
from tracking.models import Experiment, Run, Source

SCRIPT = "<script>alert('x')</script>"
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)  # a Monday
PASSWORD = "correct horse battery"

# Pinned query counts, the same with a dozen runs and with 100,000 (test_scale).
# The dashboard includes overdue and recovered batches (2 queries, however many).
DASHBOARD_QUERIES = 26
# ...and read from the rollups (reports.rollups), whatever the number of runs.
DASHBOARD_ROLLUP_QUERIES = 27
RUNS_PAGE_QUERIES = 15
SUMMARY_API_QUERIES = 20

# (experiment key, classification tag, week, kind)
RUNS: list[tuple[str, str | None, int, str]] = [
    ("risk", "official", 0, "ok"),
    ("risk", "Official ", 0, "ok"),
    ("risk", "top-secret", 0, "bad_class"),
    ("risk", "SECRET", 1, "ok"),
    ("risk2", "official", 1, "bad_user"),
    ("risk2", None, 1, "ok"),  # no classification tag: fails data-classification
    ("risk2", "public", 2, "bad_many"),
    ("finance", "secret", 0, "ok"),
    ("finance", "secret", 2, "bad_class"),
    ("finance", " secret", 2, "no_start"),  # error verdict: retention cannot be evaluated
    ("nodept", "official", 1, "ok"),
    ("nodept", "", 2, "bad_user"),
    ("hostile", SCRIPT, 1, "bad_class"),
]


def normalise(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.strip().casefold() or "(none)"


@dataclass
class ComplianceMirror:
    version: PolicyVersion
    alpha: Source
    beta: Source
    experiments: dict[str, Experiment]
    assessed: list[Run] = field(default_factory=list)
    unassessed: Run | None = None
    deleted: Run | None = None
    changed: Run | None = None
    hostile: Run | None = None


def _make(exp: Experiment, classification: str | None, week: int, kind: str, n: int) -> Run:
    tags: dict[str, str] = {"note": f"run {n}"}
    if classification is not None:
        tags["classification"] = classification
    fields: dict[str, Any] = {
        "tags": tags,
        "start_time": T0 + dt.timedelta(weeks=week, days=n % 5, hours=n),
        "run_name": f"run {n}" if exp.name != f"exp {SCRIPT}" else f"run {SCRIPT}",
    }
    if kind == "bad_user":
        fields["user_id"] = ""
    if kind == "bad_many":
        fields.update(
            user_id="", artifact_uri="http://plain/1", tags={**tags, "classification": "x"}
        )
    if kind == "no_start":
        fields["start_time"] = None
    return factories.run(exp, **fields)


def build(version: PolicyVersion) -> ComplianceMirror:
    alpha = factories.source("alpha")
    beta = factories.source("beta")
    experiments = {
        "risk": factories.experiment(alpha, name="credit", tags={"department": "Risk"}),
        "risk2": factories.experiment(alpha, name="scoring", tags={"department": " risk "}),
        "finance": factories.experiment(beta, name="ledger", tags={"department": "Finance"}),
        "nodept": factories.experiment(beta, name="ops", tags={"owner": "bob"}),
        "hostile": factories.experiment(
            alpha, name=f"exp {SCRIPT}", tags={"department": SCRIPT, "owner": SCRIPT}
        ),
    }
    mirror = ComplianceMirror(version=version, alpha=alpha, beta=beta, experiments=experiments)
    for n, (key, classification, week, kind) in enumerate(RUNS):
        mirror.assessed.append(_make(experiments[key], classification, week, kind, n))
    mirror.hostile = mirror.assessed[-1]
    mirror.deleted = _make(experiments["risk"], "top-secret", 0, "bad_class", 90)
    Run.objects.filter(pk=mirror.deleted.pk).update(lifecycle_stage="deleted")
    assess_runs(run_ids=[r.pk for r in [*mirror.assessed, mirror.deleted]], version=version)
    # Changed after its assessment: still counted with its verdict, but awaiting re-assessment.
    mirror.changed = mirror.assessed[0]
    Run.objects.filter(pk=mirror.changed.pk).update(facts_hash="changed")
    mirror.unassessed = _make(experiments["finance"], "official", 1, "ok", 91)
    return mirror


@pytest.fixture
def compliance_mirror(default_policy: PolicyVersion) -> ComplianceMirror:
    return build(default_policy)


# --------------------------------------------------------------------------- expectations


@dataclass
class Expected:
    runs: int = 0
    assessed: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    risks: Counter[str] = field(default_factory=Counter)
    not_assessed: int = 0
    awaiting: int = 0
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    by_experiment: dict[str, Counter[str]] = field(default_factory=dict)
    by_department: dict[str, Counter[str]] = field(default_factory=dict)
    by_classification: dict[str, Counter[str]] = field(default_factory=dict)
    weeks: dict[dt.date, Counter[str]] = field(default_factory=dict)
    failing: Counter[str] = field(default_factory=Counter)


def expected(version: PolicyVersion, keep: Any = lambda run: True) -> Expected:
    """Counts from the rows, in Python: visible runs that ``keep`` accepts."""
    current = {
        a.run_id: a
        for a in Assessment.objects.filter(policy=version.policy, is_current=True).prefetch_related(
            "results"
        )
    }
    assessed_now = {
        (a.run_id, a.run_content_hash) for a in Assessment.objects.filter(policy_version=version)
    }
    result = Expected()
    for run in Run.objects.select_related("source", "experiment"):
        if run.lifecycle_stage != "active" or run.gone_at is not None or not keep(run):
            continue
        result.runs += 1
        if (run.pk, run.facts_hash) not in assessed_now:
            result.awaiting += 1
        assessment = current.get(run.pk)
        if assessment is None:
            result.not_assessed += 1
            continue
        result.assessed += 1
        result.verdicts[assessment.verdict] += 1
        result.risks[assessment.risk] += 1
        groups = [
            (result.by_source, run.source.name),
            (result.by_experiment, str(run.experiment_id)),
            (result.by_department, normalise(run.experiment.tags.get("department"))),
            (result.by_classification, normalise(run.classification)),
        ]
        for table, key in groups:
            table.setdefault(key, Counter())[assessment.verdict] += 1
            table[key]["total"] += 1
            table[key][f"risk_{assessment.risk}"] += 1
        if run.start_time is not None:
            day = run.start_time.date()
            week = day - dt.timedelta(days=day.weekday())
            result.weeks.setdefault(week, Counter())[assessment.verdict] += 1
        for rule in assessment.results.all():
            if rule.outcome == "fail":
                result.failing[rule.rule_id] += 1
    return result
