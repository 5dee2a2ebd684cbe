"""The dashboard's figures: totals, breakdowns, trend, failing rules, and the
filter choices. Every figure is aggregated in the database (GROUP BY with
conditional counts), so the number of queries does not grow with the number
of runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncWeek
from django.utils import timezone

from kernel.keyset import distinct_values
from reports.models import (
    Assessment,
    ComplianceDelta,
    Policy,
    PolicyVersion,
    RollupState,
    RuleFailDelta,
    RuleResult,
    RunCountDelta,
    TrendDelta,
)
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


def _counts_of(tally: Tally) -> dict[str, int]:
    """A tally as the row ``Tally.add`` takes (less its total)."""
    return {
        **{verdict: getattr(tally, verdict) for verdict in VERDICTS},
        **{f"risk_{level}": tally.risk[level] for level in RISK_LEVELS},
    }


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
    # Why the figures were counted run by run, for the page to say so (a view
    # the weekly rollups answer takes a few queries; counting a million runs
    # takes seconds); empty when they came from the rollups.
    counted_live: str = ""

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
    return _trend_points(counts, weeks)


def _trend_points(counts: dict[dt.date, dict[str, int]], weeks: int) -> list[TrendPoint]:
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
    """Every figure of the dashboard, in nine queries whatever the data size:
    read from the rollups when they are built and can answer the filters
    (``rollup_summary``), else aggregated live over the runs."""
    why_live = counted_live_because(filters)
    if not why_live:
        return rollup_summary(filters, choices, weeks=weeks, top_rules=top_rules, latest=latest)
    summary = live_summary(filters, choices, weeks=weeks, top_rules=top_rules, latest=latest)
    return replace(summary, counted_live=why_live)


def live_summary(
    filters: ComplianceFilters,
    choices: FilterChoices,
    *,
    weeks: int = TREND_WEEKS,
    top_rules: int = TOP_FAILING_RULES,
    latest: int = LATEST_NON_COMPLIANT,
) -> ComplianceSummary:
    """``compliance_summary`` aggregated over the current assessments and runs."""
    assessments = current_assessments(filters, choices)
    grouped = assessments.order_by()
    aggregates = _tally_aggregates()

    by_source = _merge(
        grouped.values("run__source__name").annotate(**aggregates),
        lambda row: row["run__source__name"],
        lambda row: row["run__source__name"],
    )
    totals = Tally(key="", label="All runs")  # every run has a source: the sum of them
    for tally in by_source:
        totals.add({"total": tally.total, **_counts_of(tally)})
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
        latest_non_compliant=_latest_non_compliant(assessments, latest),
    )


def _latest_non_compliant(assessments: QuerySet[Assessment], latest: int) -> list[Assessment]:
    return list(
        assessments.filter(verdict=Assessment.Verdict.NON_COMPLIANT)
        .select_related("run__source", "run__experiment", "policy_version")
        .order_by("-assessed_at", "-id")[:latest]
    )


# --------------------------------------------------------------------------- from the rollups


def counted_live_because(filters: ComplianceFilters) -> str:
    """Why the rollups cannot give the figures for ``filters`` (they must be
    counted over the runs), in words for the page; empty when they can. They
    count by week, once built (``reports.rollups``), and know nothing of what
    only the runs table filters. One query."""
    built = RollupState.objects.exists()  # asked always: one query either way
    if filters.since or filters.until:
        return "a date filter is finer than the weekly totals"
    if filters.verdict or filters.risk or filters.failed_rule or filters.pending:
        return "the weekly totals do not break runs down by this filter"
    if not built:
        return "the weekly totals have not been built yet"
    return ""


def rollups_answer(filters: ComplianceFilters) -> bool:
    """Whether the rollups can give the figures for ``filters``. One query."""
    return not counted_live_because(filters)


def _experiments() -> dict[int, tuple[str, str, str | None]]:
    """Every experiment: its name, its source's name and its department tag."""
    return {
        pk: (name, source, department)
        for pk, name, source, department in Experiment.objects.order_by()
        .annotate(department=KeyTextTransform(DEPARTMENT_TAG, "tags"))
        .values_list("pk", "name", "source__name", "department")
    }


def _rollup_q(
    filters: ComplianceFilters,
    choices: FilterChoices,
    experiments: Mapping[int, tuple[str, str, str | None]],
) -> Q:
    """``run_conditions`` on rollup rows (visibility is built in)."""
    condition = Q()
    if filters.policy.source_names:
        condition &= Q(source__name__in=list(filters.policy.source_names))
    if filters.source is not None:
        condition &= Q(source_id=filters.source.pk)
    if filters.experiment is not None:
        condition &= Q(experiment_id=filters.experiment.pk)
    if filters.classification is not None:
        raw = list(choices.classifications.get(filters.classification, ()))
        condition &= Q(classification__in=raw)
    if filters.department is not None:
        condition &= Q(
            experiment_id__in=[
                pk
                for pk, (_, _, department) in experiments.items()
                if normalise(department) == filters.department
            ]
        )
    return condition


def _week_counts(trend: QuerySet[TrendDelta]) -> dict[dt.date, dict[str, int]]:
    counts: dict[dt.date, dict[str, int]] = {}
    for week, verdict, n in (
        trend.values_list("week", "verdict").annotate(n=Sum("runs")).filter(n__gt=0)
    ):
        counts.setdefault(week, dict.fromkeys(VERDICTS, 0))[verdict] += n
    return counts


def _bump(tally: Tally, verdict: str, risk: str, n: int) -> None:
    tally.total += n
    setattr(tally, verdict, getattr(tally, verdict) + n)
    tally.risk[risk] += n


def _sorted(tallies: Iterable[Tally]) -> list[Tally]:
    return sorted(tallies, key=lambda t: (-t.non_compliant, -t.total, t.label))


def rollup_summary(
    filters: ComplianceFilters,
    choices: FilterChoices,
    *,
    weeks: int = TREND_WEEKS,
    top_rules: int = TOP_FAILING_RULES,
    latest: int = LATEST_NON_COMPLIANT,
) -> ComplianceSummary:
    """``compliance_summary`` from the rollup tables: sums over a few thousand
    rows, whatever the number of runs. The same figures as the live queries
    (``manage.py rollups check`` and the tests hold them to it)."""
    experiments = _experiments()
    where = _rollup_q(filters, choices, experiments)
    compliance = ComplianceDelta.objects.filter(where, policy=filters.policy).order_by()
    totals = Tally(key="", label="All runs")
    groups: dict[str, dict[str, Tally]] = {
        "source": {},
        "experiment": {},
        "department": {},
        "classification": {},
    }

    def count(
        group: str, key: str, label: str, source: str, verdict: str, risk: str, n: int
    ) -> None:
        tally = groups[group].get(key)
        if tally is None:
            tally = groups[group][key] = Tally(key=key, label=label, source=source)
        _bump(tally, verdict, risk, n)

    # Source and department are the experiment's: one GROUP BY gives the three.
    for experiment_id, verdict, risk, n in (
        compliance.values_list("experiment_id", "verdict", "risk")
        .annotate(n=Sum("runs"))
        .filter(n__gt=0)
    ):
        name, source, department = experiments.get(experiment_id, ("?", "?", None))
        _bump(totals, verdict, risk, n)
        count("source", source, source, "", verdict, risk, n)
        count("experiment", str(experiment_id), name, source, verdict, risk, n)
        label = normalise(department)
        count("department", label, label, "", verdict, risk, n)
    for classification, verdict, risk, n in (
        compliance.values_list("classification", "verdict", "risk")
        .annotate(n=Sum("runs"))
        .filter(n__gt=0)
    ):
        label = normalise(classification)
        count("classification", label, label, "", verdict, risk, n)

    # The trend: its last ``weeks`` weeks only (the index on policy and week).
    trend = TrendDelta.objects.filter(where, policy=filters.policy).order_by()
    counts: dict[dt.date, dict[str, int]] = {}
    last = trend.aggregate(last=Max("week"))["last"]
    if last is not None:
        counts = _week_counts(trend.filter(week__gt=last - dt.timedelta(weeks=weeks)))
        if max(counts, default=None) != last:  # the newest rows sum to nothing (not folded yet)
            counts = _week_counts(trend)

    version = filters.version
    fresh = 0
    if version is not None:
        fresh = (
            compliance.filter(policy_version=version, fresh=True).aggregate(n=Sum("runs"))["n"] or 0
        )
    runs = RunCountDelta.objects.filter(where).aggregate(n=Sum("runs"))["n"] or 0

    catalogue = rule_catalogue(version)
    failing_rows = list(
        RuleFailDelta.objects.filter(where, policy=filters.policy)
        .order_by()
        .values_list("rule_id")
        .annotate(n=Sum("runs"))
        .filter(n__gt=0)
        .order_by("-n", "rule_id")[:top_rules]
    )
    unknown = [rule_id for rule_id, _ in failing_rows if rule_id not in catalogue]
    if unknown:  # rules the current version dropped: named as their results name them
        catalogue = {
            **{
                row["rule_id"]: row
                for row in RuleResult.objects.filter(
                    rule_id__in=unknown,
                    outcome=RuleResult.Outcome.FAIL,
                    assessment__policy=filters.policy,
                    assessment__is_current=True,
                )
                .order_by()
                .values("rule_id")
                .annotate(title=Max("title"), severity=Max("severity"))
            },
            **catalogue,
        }
    failing_rules = [
        FailingRule(
            rule_id=rule_id,
            title=catalogue.get(rule_id, {}).get("title") or rule_id,
            severity=catalogue.get(rule_id, {}).get("severity") or "",
            runs=n,
            share=round(100 * n / totals.total, 1) if totals.total else 0.0,
        )
        for rule_id, n in failing_rows
    ]
    return ComplianceSummary(
        filters=filters,
        totals=totals,
        runs=runs,
        not_assessed=runs - totals.total,
        awaiting=runs - fresh if version is not None else 0,
        by_source=_sorted(groups["source"].values()),
        by_experiment=_sorted(groups["experiment"].values()),
        by_department=_sorted(groups["department"].values()),
        by_classification=_sorted(groups["classification"].values()),
        trend=_trend_points(counts, weeks),
        failing_rules=failing_rules,
        latest_non_compliant=_latest_non_compliant(current_assessments(filters, choices), latest),
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
