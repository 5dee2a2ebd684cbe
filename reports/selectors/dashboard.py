"""The dashboard's figures: totals, breakdowns, trend, failing rules, and the
filter choices. Every figure is aggregated in the database (GROUP BY with
conditional counts), so the number of queries does not grow with the number
of runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncWeek
from django.utils import timezone

from kernel.keyset import distinct_values
from reports.models import Assessment, Policy, PolicyVersion, RuleResult
from reports.rules import RISK_LEVELS
from reports.selectors.assessing import awaiting_run_ids
from reports.selectors.common import (
    DEPARTMENT_TAG,
    VERDICTS,
    ComplianceFilters,
    FilterChoices,
    current_assessments,
    normalise,
    rule_catalogue,
    run_conditions,
)
from reports.selectors.policies import default_policy
from tracking.models import Experiment, Run, visible_q

TREND_WEEKS = 26
TOP_FAILING_RULES = 10
LATEST_NON_COMPLIANT = 10


def filter_choices() -> FilterChoices:
    """Two queries: the distinct classifications of runs and departments of experiments."""
    classifications: dict[str, list[str]] = {}
    # Seeks through the classification index: SELECT DISTINCT would read every run.
    for raw in distinct_values(Run, "classification"):
        classifications.setdefault(normalise(raw), []).append(raw)
    departments: dict[str, list[str | None]] = {}
    raw_departments = (
        Experiment.objects.order_by()
        .annotate(department=KeyTextTransform(DEPARTMENT_TAG, "tags"))
        .values_list("department", flat=True)
        .distinct()
    )
    for raw in raw_departments:
        departments.setdefault(normalise(raw), []).append(raw)
    return FilterChoices(
        classifications={key: tuple(values) for key, values in classifications.items()},
        departments={key: tuple(values) for key, values in departments.items()},
    )


# --------------------------------------------------------------------------- figures


@dataclass
class Tally:
    """Verdicts and risk levels of a group of current assessments."""

    key: str  # the filter value that selects the group ("" for the whole set)
    label: str
    total: int = 0
    compliant: int = 0
    non_compliant: int = 0
    error: int = 0
    risk: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RISK_LEVELS, 0))
    source: str = ""  # experiments only: their source's name

    @property
    def rate(self) -> float | None:
        """Per cent of assessed runs that are compliant; None when nothing was assessed."""
        return round(100 * self.compliant / self.total, 1) if self.total else None

    def add(self, row: Mapping[str, Any]) -> None:
        self.total += row["total"]
        for verdict in VERDICTS:
            setattr(self, verdict, getattr(self, verdict) + row[verdict])
        for level in RISK_LEVELS:
            self.risk[level] += row[f"risk_{level}"]


def _tally_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {"total": Count("pk")}
    for verdict in VERDICTS:
        aggregates[verdict] = Count("pk", filter=Q(verdict=verdict))
    for level in RISK_LEVELS:
        aggregates[f"risk_{level}"] = Count("pk", filter=Q(risk=level))
    return aggregates


def _merge(
    rows: Iterable[Mapping[str, Any]], key_of: Any, label_of: Any, source_of: Any = None
) -> list[Tally]:
    merged: dict[str, Tally] = {}
    for row in rows:
        key = key_of(row)
        if key not in merged:
            merged[key] = Tally(
                key=key, label=label_of(row), source=source_of(row) if source_of else ""
            )
        merged[key].add(row)
    return sorted(merged.values(), key=lambda t: (-t.non_compliant, -t.total, t.label))


@dataclass(frozen=True)
class TrendPoint:
    week_start: dt.date
    compliant: int
    non_compliant: int
    error: int

    @property
    def total(self) -> int:
        return self.compliant + self.non_compliant + self.error

    @property
    def week_end(self) -> dt.date:
        return self.week_start + dt.timedelta(days=6)


@dataclass(frozen=True)
class FailingRule:
    rule_id: str
    title: str
    severity: str
    runs: int
    share: float  # per cent of assessed runs that fail it


@dataclass
class ComplianceSummary:
    filters: ComplianceFilters
    totals: Tally
    runs: int  # visible runs that match the filters
    not_assessed: int  # ...without a current assessment under the policy
    awaiting: int  # ...whose current content is not assessed under the current version
    by_source: list[Tally]
    by_experiment: list[Tally]
    by_department: list[Tally]
    by_classification: list[Tally]
    trend: list[TrendPoint]
    failing_rules: list[FailingRule]
    latest_non_compliant: list[Assessment]

    @property
    def policy(self) -> Policy:
        return self.filters.policy

    @property
    def version(self) -> PolicyVersion | None:
        return self.filters.version


def _week_of(value: dt.datetime | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value - dt.timedelta(days=value.weekday())


def _trend(assessments: QuerySet[Assessment], weeks: int) -> list[TrendPoint]:
    rows = (
        assessments.exclude(run__start_time__isnull=True)
        .order_by()
        .annotate(week=TruncWeek("run__start_time"))
        .values("week")
        .annotate(**{verdict: Count("pk", filter=Q(verdict=verdict)) for verdict in VERDICTS})
    )
    counts: dict[dt.date, dict[str, int]] = {}
    for row in rows:
        bucket = counts.setdefault(_week_of(row["week"]), dict.fromkeys(VERDICTS, 0))
        for verdict in VERDICTS:
            bucket[verdict] += row[verdict]
    if not counts:
        return []
    last = max(counts)
    first = max(min(counts), last - dt.timedelta(weeks=weeks - 1))
    points = []
    week = first
    while week <= last:
        bucket = counts.get(week, dict.fromkeys(VERDICTS, 0))
        points.append(TrendPoint(week, **bucket))
        week += dt.timedelta(weeks=1)
    return points


def compliance_summary(
    filters: ComplianceFilters,
    choices: FilterChoices,
    *,
    weeks: int = TREND_WEEKS,
    top_rules: int = TOP_FAILING_RULES,
    latest: int = LATEST_NON_COMPLIANT,
) -> ComplianceSummary:
    """Every figure of the dashboard, in eight queries whatever the data size."""
    assessments = current_assessments(filters, choices)
    grouped = assessments.order_by()
    aggregates = _tally_aggregates()

    totals = Tally(key="", label="All runs")
    totals.add(grouped.aggregate(**aggregates))

    by_source = _merge(
        grouped.values("run__source__name").annotate(**aggregates),
        lambda row: row["run__source__name"],
        lambda row: row["run__source__name"],
    )
    by_experiment = _merge(
        grouped.values("run__experiment_id", "run__experiment__name", "run__source__name").annotate(
            **aggregates
        ),
        lambda row: str(row["run__experiment_id"]),
        lambda row: row["run__experiment__name"],
        lambda row: row["run__source__name"],
    )
    by_department = _merge(
        grouped.annotate(department=KeyTextTransform(DEPARTMENT_TAG, "run__experiment__tags"))
        .values("department")
        .annotate(**aggregates),
        lambda row: normalise(row["department"]),
        lambda row: normalise(row["department"]),
    )
    by_classification = _merge(
        grouped.values("run__classification").annotate(**aggregates),
        lambda row: normalise(row["run__classification"]),
        lambda row: normalise(row["run__classification"]),
    )

    run_q = run_conditions(filters, choices)
    version = filters.version
    run_aggregates: dict[str, Any] = {"runs": Count("pk")}
    if version is not None:
        run_aggregates["awaiting"] = Count("pk", filter=Q(pk__in=awaiting_run_ids(version)))
    run_counts = Run.objects.filter(run_q).order_by().aggregate(**run_aggregates)

    catalogue = rule_catalogue(version)
    failing = (
        RuleResult.objects.filter(
            outcome=RuleResult.Outcome.FAIL,
            assessment__policy=filters.policy,
            assessment__is_current=True,
        )
        .filter(run_conditions(filters, choices, "assessment__run__"))
        .order_by()
        .values("rule_id")
        .annotate(runs=Count("pk"), title=Max("title"), severity=Max("severity"))
        .order_by("-runs", "rule_id")[:top_rules]
    )
    failing_rules = [
        FailingRule(
            rule_id=row["rule_id"],
            title=catalogue.get(row["rule_id"], {}).get("title") or row["title"],
            severity=catalogue.get(row["rule_id"], {}).get("severity") or row["severity"],
            runs=row["runs"],
            share=round(100 * row["runs"] / totals.total, 1) if totals.total else 0.0,
        )
        for row in failing
    ]

    latest_non_compliant = list(
        assessments.filter(verdict=Assessment.Verdict.NON_COMPLIANT)
        .select_related("run__source", "run__experiment", "policy_version")
        .order_by("-assessed_at", "-id")[:latest]
    )
    return ComplianceSummary(
        filters=filters,
        totals=totals,
        runs=run_counts["runs"],
        not_assessed=run_counts["runs"] - totals.total,
        awaiting=run_counts.get("awaiting", 0) or 0,
        by_source=by_source,
        by_experiment=by_experiment,
        by_department=by_department,
        by_classification=by_classification,
        trend=_trend(assessments, weeks),
        failing_rules=failing_rules,
        latest_non_compliant=latest_non_compliant,
    )


def latest_non_compliant(*, limit: int = LATEST_NON_COMPLIANT) -> list[Assessment]:
    """The most recent non-compliant verdicts under the default policy, on visible runs
    (the start page's list)."""
    policy = default_policy()
    if policy is None:
        return []
    return list(
        Assessment.objects.current()
        .filter(policy=policy, verdict=Assessment.Verdict.NON_COMPLIANT)
        .filter(visible_q("run__"))
        .select_related("run__source", "run__experiment", "policy_version")
        .order_by("-assessed_at", "-id")[:limit]
    )
