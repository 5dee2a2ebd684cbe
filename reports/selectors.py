"""Reads of compliance data: the dashboard, the runs table, the API and the PDFs
all take their figures from here, so a page and its report never disagree.

Every figure is aggregated in the database (GROUP BY with conditional counts),
so the number of queries does not grow with the number of runs.

Grouping by classification and department normalises values the way the rules
compare them (surrounding spaces ignored, case folded; blank is "(none)"). The
database groups by the raw value and Python merges the few raw variants of a
value: SQLite's LOWER() folds ASCII only, and ``str.casefold`` is the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from reports.models import (
    Assessment,
    AssessmentBatch,
    AssessmentRequest,
    Policy,
    PolicyVersion,
    RuleResult,
)
from reports.rules import RISK_LEVELS, SEVERITIES
from reports.services import runs_needing_assessment
from tracking.models import Experiment, Run, Source

NONE_LABEL = "(none)"
DEPARTMENT_TAG = "department"
VERDICTS = ("compliant", "non_compliant", "error")
VERDICT_LABELS = {
    "compliant": "Compliant",
    "non_compliant": "Non-compliant",
    "error": "Error",
    "none": "Not assessed",
}
RISK_LABELS = {level: level.capitalize() for level in RISK_LEVELS}
TREND_WEEKS = 26
TOP_FAILING_RULES = 10
LATEST_NON_COMPLIANT = 10
ACTIVITY_REQUESTS = 5


def normalise(value: Any) -> str:
    """How classification and department values are grouped and filtered."""
    text = "" if value is None else str(value)
    return text.strip().casefold() or NONE_LABEL


@dataclass(frozen=True)
class FilterChoices:
    """The normalised classification and department values, with the raw
    spellings behind each (so a filter can use the column's index)."""

    classifications: Mapping[str, tuple[str, ...]]
    departments: Mapping[str, tuple[str | None, ...]]

    def classification_choices(self) -> list[tuple[str, str]]:
        return [(value, value) for value in sorted(self.classifications)]

    def department_choices(self) -> list[tuple[str, str]]:
        return [(value, value) for value in sorted(self.departments)]


def filter_choices() -> FilterChoices:
    """Two queries: the distinct classifications of runs and departments of experiments."""
    classifications: dict[str, list[str]] = {}
    for raw in Run.objects.order_by().values_list("classification", flat=True).distinct():
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


@dataclass(frozen=True)
class ComplianceFilters:
    """What the dashboard, the runs table, the CSV export and the API filter by.

    ``department`` and ``classification`` are normalised values (see
    ``normalise``). The last four fields only narrow the runs table.
    """

    policy: Policy
    version: PolicyVersion | None
    source: Source | None = None
    experiment: Experiment | None = None
    department: str | None = None
    classification: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    verdict: str | None = None  # compliant | non_compliant | error | none
    risk: str | None = None
    failed_rule: str | None = None
    pending: bool = False

    def params(self, *, scope_only: bool = False, **overrides: Any) -> dict[str, str]:
        """The query parameters that reproduce these filters (None drops one)."""
        values: dict[str, Any] = {
            "policy": self.policy.slug,
            "source": self.source.name if self.source else None,
            "experiment": self.experiment.pk if self.experiment else None,
            "department": self.department,
            "classification": self.classification,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        if not scope_only:
            values.update(
                verdict=self.verdict,
                risk=self.risk,
                failed_rule=self.failed_rule,
                pending="yes" if self.pending else None,
            )
        values.update(overrides)
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def default_policy() -> Policy | None:
    """The policy shown when none is chosen: ``default`` if active, else the first active."""
    return (
        Policy.objects.annotate(
            not_default=Case(When(slug="default", then=0), default=1, output_field=IntegerField())
        )
        .order_by("-is_active", "not_default", "name")
        .first()
    )


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _run_q(filters: ComplianceFilters, choices: FilterChoices, prefix: str = "") -> Q:
    """Conditions on runs (visible, in the policy's scope, filtered), seen from
    the model the query starts at: ``prefix`` is the path to the run."""

    def on(lookup: str, value: Any) -> Q:
        return Q(**{prefix + lookup: value})

    condition = on("lifecycle_stage", "active") & on("gone_at__isnull", True)
    if filters.policy.source_names:
        condition &= on("source__name__in", list(filters.policy.source_names))
    if filters.source is not None:
        condition &= on("source", filters.source.pk)
    if filters.experiment is not None:
        condition &= on("experiment", filters.experiment.pk)
    if filters.classification is not None:
        raw = list(choices.classifications.get(filters.classification, ()))
        condition &= on("classification__in", raw)
    if filters.department is not None:
        raw_departments = choices.departments.get(filters.department, ())
        texts = [value for value in raw_departments if value is not None]
        department = on(f"experiment__tags__{DEPARTMENT_TAG}__in", texts)
        if None in raw_departments:  # experiments without the tag at all
            department |= on(f"experiment__tags__{DEPARTMENT_TAG}__isnull", True)
        condition &= department
    if filters.since is not None:
        condition &= on("start_time__gte", _start_of(filters.since))
    if filters.until is not None:
        condition &= on("start_time__lt", _start_of(filters.until + dt.timedelta(days=1)))
    return condition


def current_assessments(filters: ComplianceFilters, choices: FilterChoices) -> QuerySet[Assessment]:
    """The current assessment under the policy of every visible run that matches."""
    return Assessment.objects.filter(policy=filters.policy, is_current=True).filter(
        _run_q(filters, choices, "run__")
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


def _awaiting_ids(version: PolicyVersion) -> QuerySet[Run, Any]:
    """What the assessment jobs would pick up: reports.services decides, not a copy here."""
    return runs_needing_assessment(version).order_by().values("pk")


def _rule_catalogue(version: PolicyVersion | None) -> dict[str, Mapping[str, Any]]:
    return {rule["id"]: rule for rule in (version.rules if version else [])}


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

    run_q = _run_q(filters, choices)
    version = filters.version
    run_aggregates: dict[str, Any] = {"runs": Count("pk")}
    if version is not None:
        run_aggregates["awaiting"] = Count("pk", filter=Q(pk__in=_awaiting_ids(version)))
    run_counts = Run.objects.filter(run_q).order_by().aggregate(**run_aggregates)

    catalogue = _rule_catalogue(version)
    failing = (
        RuleResult.objects.filter(
            outcome=RuleResult.Outcome.FAIL,
            assessment__policy=filters.policy,
            assessment__is_current=True,
        )
        .filter(_run_q(filters, choices, "assessment__run__"))
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


# --------------------------------------------------------------------------- the runs table

RUN_COLUMNS = (
    "id",
    "run_id",
    "run_name",
    "start_time",
    "classification",
    "source__id",
    "source__name",
    "experiment__id",
    "experiment__name",
)
_VERDICT_RANK = {"compliant": 0, "error": 1, "non_compliant": 2}
_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _rank(field_name: str, ranks: Mapping[str, int]) -> Case:
    return Case(
        *(When(**{field_name: value}, then=Value(rank)) for value, rank in ranks.items()),
        default=Value(-1),
        output_field=IntegerField(),
    )


def compliance_runs(filters: ComplianceFilters, choices: FilterChoices) -> QuerySet[Run]:
    """Visible runs that match, each with its current assessment under the
    policy (or none): one LEFT JOIN, so any page costs the same two queries."""
    current = FilteredRelation(
        "assessments",
        condition=Q(assessments__policy=filters.policy, assessments__is_current=True),
    )
    runs = (
        Run.objects.filter(_run_q(filters, choices))
        .select_related("source", "experiment")
        .only(*RUN_COLUMNS)
        .annotate(current=current)
        .annotate(
            assessment_id=F("current__id"),
            verdict=F("current__verdict"),
            risk=F("current__risk"),
            score=F("current__score"),
            failed_count=F("current__failed_rules"),
            assessed_at=F("current__assessed_at"),
            version_number=F("current__policy_version__number"),
        )
        .annotate(
            # Sort keys that put runs never assessed first (ascending) on every
            # database: PostgreSQL and SQLite order NULLs differently.
            verdict_rank=_rank("verdict", _VERDICT_RANK),
            risk_rank=_rank("risk", {level: i for i, level in enumerate(RISK_LEVELS)}),
            score_rank=Coalesce("score", Value(-1)),
            assessed_rank=Coalesce("assessed_at", Value(_NEVER)),
        )
    )
    if filters.verdict == "none":
        runs = runs.filter(current__id__isnull=True)
    elif filters.verdict:
        runs = runs.filter(current__verdict=filters.verdict)
    if filters.risk:
        runs = runs.filter(current__risk=filters.risk)
    if filters.failed_rule:
        runs = runs.filter(
            Exists(
                RuleResult.objects.filter(
                    assessment__run=OuterRef("pk"),
                    assessment__policy=filters.policy,
                    assessment__is_current=True,
                    rule_id=filters.failed_rule,
                    outcome=RuleResult.Outcome.FAIL,
                )
            )
        )
    if filters.pending:
        if filters.version is None:
            runs = runs.none()
        else:
            runs = runs.filter(pk__in=_awaiting_ids(filters.version))
    return runs.order_by("-start_time", "-id")


def failed_rule_ids(assessment_ids: Iterable[int | None]) -> dict[int, list[str]]:
    """The failed rules of each assessment, in one query."""
    ids = [pk for pk in assessment_ids if pk is not None]
    found: dict[int, list[str]] = {}
    if not ids:
        return found
    rows = (
        RuleResult.objects.filter(assessment_id__in=ids, outcome=RuleResult.Outcome.FAIL)
        .order_by("assessment_id", "id")
        .values_list("assessment_id", "rule_id")
    )
    for assessment_id, rule_id in rows:
        found.setdefault(assessment_id, []).append(rule_id)
    return found


# --------------------------------------------------------------------------- assessment activity


@dataclass(frozen=True)
class RequestProgress:
    """What ``reports.services.request_progress`` says, for several requests at once."""

    request: AssessmentRequest
    total: int
    done: int
    failed_batches: int
    open_batches: int

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, int(100 * self.done / self.total))

    @property
    def is_open(self) -> bool:
        return self.open_batches > 0


def assessment_activity(*, limit: int = ACTIVITY_REQUESTS) -> list[RequestProgress]:
    """The latest assessment requests and their progress, in two queries."""
    requests = list(
        AssessmentRequest.objects.select_related("policy_version__policy", "requested_by").order_by(
            "-created_at", "-id"
        )[:limit]
    )
    if not requests:
        return []
    rows = (
        AssessmentBatch.objects.filter(request__in=requests)
        .order_by()
        .values("request_id")
        .annotate(
            done=Sum("done"),
            failed=Count("pk", filter=Q(status=AssessmentBatch.Status.FAILED)),
            open=Count(
                "pk",
                filter=Q(
                    status__in=[AssessmentBatch.Status.QUEUED, AssessmentBatch.Status.RUNNING]
                ),
            ),
        )
    )
    by_request = {row["request_id"]: row for row in rows}
    progress = []
    for request in requests:
        row = by_request.get(request.pk, {})
        progress.append(
            RequestProgress(
                request=request,
                total=request.total,
                done=min(row.get("done") or 0, request.total),
                failed_batches=row.get("failed") or 0,
                open_batches=row.get("open") or 0,
            )
        )
    return progress


# --------------------------------------------------------------------------- policies, in words

_OP_WORDS = {
    "==": "equal to",
    "!=": "different from",
    ">": "greater than",
    ">=": "at least",
    "<": "less than",
    "<=": "at most",
}


def _listed(values: Sequence[Any]) -> str:
    return ", ".join(str(value) for value in values)


def explain_check(check: Mapping[str, Any]) -> str:
    """A rule's check in words a compliance officer can act on."""
    kind = check.get("kind", "")
    key = check.get("key", "")
    if kind == "tag_present":
        return f'The run must have a tag "{key}" with a value.'
    if kind == "tag_in":
        how = (
            "exactly as written"
            if check.get("case_sensitive")
            else "letter case and surrounding spaces are ignored"
        )
        return f'The run\'s tag "{key}" must be one of: {_listed(check["values"])} ({how}).'
    if kind == "tag_matches":
        return f'The run\'s tag "{key}" must match the pattern {check["pattern"]}.'
    if kind == "param_present":
        return f'The run must log the parameter "{key}".'
    if kind == "param_compare":
        op = _OP_WORDS.get(check["op"], check["op"])
        return f'The run\'s parameter "{key}" must be {op} {check["value"]}.'
    if kind == "metric_threshold":
        op = _OP_WORDS.get(check["op"], check["op"])
        return f'The run\'s latest value of the metric "{key}" must be {op} {check["value"]}.'
    if kind == "status_in":
        return f"The run's status must be one of: {_listed(check['values'])}."
    if kind == "user_known":
        if check.get("users"):
            return f"The run must be recorded by one of: {_listed(check['users'])}."
        return (
            'The run must record a named user (not empty, "unknown", "none", "null", '
            '"root" or "anonymous").'
        )
    if kind == "artifact_scheme":
        return (
            f"The run's artifacts must be stored via one of: {_listed(check['allowed'])}; "
            "a plain local path is not accepted unless listed."
        )
    if kind == "retention":
        days = int(check["days"])
        exemption = check.get("exemption_tag", "retention_exempt")
        return (
            f'Runs older than {days:,} days must be deleted or carry a tag "{exemption}"; '
            "younger runs are not concerned."
        )
    if kind == "owner_tag":
        keys = " or ".join(f'"{k}"' for k in check["keys"])
        return f"The experiment, or a registered model made from the run, must have a tag {keys}."
    if kind == "activity_logged":
        need = check.get("require") or ["params", "metrics", "user"]
        return f"The run must record: {_listed(need)}."
    return f"A {kind} check."


@dataclass(frozen=True)
class RuleView:
    id: str
    title: str
    description: str
    severity: str
    kind: str
    explained: str
    check: Mapping[str, Any]


def rules_of(version: PolicyVersion | None) -> list[RuleView]:
    if version is None:
        return []
    return [
        RuleView(
            id=rule["id"],
            title=rule["title"],
            description=rule.get("description", ""),
            severity=rule["severity"],
            kind=rule["check"]["kind"],
            explained=explain_check(rule["check"]),
            check=rule["check"],
        )
        for rule in version.rules
    ]


@dataclass
class PolicyOverview:
    policy: Policy
    versions: list[PolicyVersion]

    @property
    def current(self) -> PolicyVersion | None:
        return next((v for v in self.versions if v.is_published), None)

    @property
    def draft(self) -> PolicyVersion | None:
        latest = self.versions[0] if self.versions else None
        return latest if latest is not None and not latest.is_published else None

    @property
    def latest(self) -> PolicyVersion | None:
        return self.versions[0] if self.versions else None


def _versions_prefetch() -> Prefetch:
    return Prefetch(
        "versions",
        queryset=PolicyVersion.objects.select_related("created_by", "published_by").order_by(
            "-number"
        ),
    )


def policy_overviews() -> list[PolicyOverview]:
    """Every policy with its versions (newest first), in two queries."""
    policies = Policy.objects.prefetch_related(_versions_prefetch()).order_by("name")
    return [PolicyOverview(policy, list(policy.versions.all())) for policy in policies]


def policy_overview(slug: str) -> PolicyOverview | None:
    policy = Policy.objects.prefetch_related(_versions_prefetch()).filter(slug=slug).first()
    return PolicyOverview(policy, list(policy.versions.all())) if policy else None


# --------------------------------------------------------------------------- one run

_OUTCOME_ORDER = {"fail": 0, "error": 1, "pass": 2, "not_applicable": 3}
_SEVERITY_ORDER = {severity: -i for i, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    title: str
    severity: str
    outcome: str
    observed: Any
    expected: Any
    message: str
    description: str  # the rule's plain-words description: how to fix it
    explained: str  # the check, in words

    @property
    def needs_fixing(self) -> bool:
        return self.outcome in ("fail", "error")


@dataclass
class PolicyCompliance:
    policy: Policy
    current_version: PolicyVersion | None
    current: Assessment | None
    results: list[RuleOutcome]
    history: list[Assessment]
    in_scope: bool
    stale_reason: str = ""

    @property
    def to_fix(self) -> list[RuleOutcome]:
        return [result for result in self.results if result.needs_fixing]


def run_compliance(run: Run) -> list[PolicyCompliance]:
    """For each policy that applies to the run or has assessed it: the current
    assessment with every rule result (what was seen, what was expected, how to
    fix it) and the assessment history. Four queries, however many policies."""
    assessments = list(
        Assessment.objects.filter(run=run)
        .select_related("policy", "policy_version", "batch")
        .prefetch_related(Prefetch("results", queryset=RuleResult.objects.order_by("id")))
        .order_by("-assessed_at", "-id")
    )
    policies = {
        policy.pk: policy
        for policy in Policy.objects.filter(
            Q(is_active=True) | Q(pk__in={a.policy_id for a in assessments})
        ).prefetch_related(
            Prefetch(
                "versions",
                queryset=PolicyVersion.objects.filter(published_at__isnull=False).order_by(
                    "-number"
                ),
                to_attr="published_versions",
            )
        )
    }
    visible = run.lifecycle_stage == "active" and run.gone_at is None
    panels = []
    for policy in sorted(policies.values(), key=lambda p: p.name):
        history = [a for a in assessments if a.policy_id == policy.pk]
        current = next((a for a in history if a.is_current), None)
        published = policy.published_versions  # type: ignore[attr-defined]
        current_version = published[0] if published else None
        in_scope = (
            visible
            and policy.is_active
            and (not policy.source_names or run.source.name in policy.source_names)
        )
        if not history and not in_scope:
            continue
        results: list[RuleOutcome] = []
        stale = ""
        if current is not None:
            catalogue = _rule_catalogue(current.policy_version)
            results = sorted(
                (
                    RuleOutcome(
                        rule_id=r.rule_id,
                        title=r.title,
                        severity=r.severity,
                        outcome=r.outcome,
                        observed=r.observed,
                        expected=r.expected,
                        message=r.message,
                        description=catalogue.get(r.rule_id, {}).get("description", ""),
                        explained=explain_check(catalogue[r.rule_id]["check"])
                        if r.rule_id in catalogue
                        else "",
                    )
                    for r in current.results.all()
                ),
                key=lambda r: (
                    _OUTCOME_ORDER.get(r.outcome, 9),
                    _SEVERITY_ORDER.get(r.severity, 0),
                ),
            )
            if current_version is not None and current.policy_version_id != current_version.pk:
                stale = (
                    f"Assessed under v{current.policy_version.number}; "
                    f"v{current_version.number} is now in force and will re-assess this run."
                )
            elif current.run_content_hash != run.facts_hash:
                stale = "The run changed after this assessment; it will be assessed again."
        panels.append(
            PolicyCompliance(
                policy=policy,
                current_version=current_version,
                current=current,
                results=results,
                history=history,
                in_scope=in_scope,
                stale_reason=stale,
            )
        )
    return panels
