"""The compliance runs table and its CSV export: each visible run that
matches, with its current assessment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from django.db.models import (
    Case,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from reports.models import RuleResult
from reports.rules import RISK_LEVELS
from reports.selectors.assessing import awaiting_run_ids
from reports.selectors.common import ComplianceFilters, FilterChoices, run_conditions
from tracking.models import Run

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
        Run.objects.filter(run_conditions(filters, choices))
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
            runs = runs.filter(pk__in=awaiting_run_ids(filters.version))
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
