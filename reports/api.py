"""Compliance API, mounted at /api/v1/ by govdash.api: the dashboard's figures
(same filters, same selectors), a run's assessments, and policies.

Everything needs a signed-in session or a bearer token (the API's global auth).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from reports.forms import ComplianceFilterForm
from reports.models import PolicyVersion
from reports.selectors.dashboard import Tally, compliance_summary, filter_choices
from reports.selectors.policies import PolicyOverview, policy_overview, policy_overviews, rules_of
from reports.selectors.run_panel import run_compliance
from reports.selectors.runs import failed_rule_ids
from reports.services import policy_export_yaml
from tracking.api import run_by_mlflow_id
from tracking.models import Run

router = Router(tags=["compliance"])


# --------------------------------------------------------------------------- schemas


class ErrorOut(Schema):
    detail: Any


class SummaryFilters(Schema):
    policy: str | None = Field(None, description="Policy slug; the default policy if omitted.")
    source: str | None = Field(None, description="Source name.")
    experiment: int | None = Field(None, description="Mirror id of an experiment.")
    department: str | None = Field(
        None, description="Experiment tag 'department', normalised (trimmed, case-folded)."
    )
    classification: str | None = Field(
        None, description="Run classification, normalised; '(none)' for blank."
    )
    since: dt.date | None = Field(None, description="Runs started on or after this date.")
    until: dt.date | None = Field(None, description="Runs started on or before this date.")


class PolicyRef(Schema):
    slug: str
    name: str
    version: int | None = Field(description="The published version in force.")


class TallyOut(Schema):
    key: str = Field(description="The filter value selecting this group.")
    label: str
    source: str | None = Field(None, description="Experiments only: their source.")
    total: int
    compliant: int
    non_compliant: int
    error: int
    compliance_rate: float | None = Field(description="Per cent compliant of assessed runs.")
    risk: dict[str, int]


class TrendOut(Schema):
    week_start: dt.date
    compliant: int
    non_compliant: int
    error: int


class FailingRuleOut(Schema):
    rule_id: str
    title: str
    severity: str
    runs: int
    share: float = Field(description="Per cent of assessed runs failing the rule.")


class LatestOut(Schema):
    id: int = Field(description="Mirror id of the run.")
    run_id: str
    run_name: str
    experiment: str
    source: str
    policy_version: int
    risk: str
    score: int
    failed_rules: list[str]
    assessed_at: dt.datetime


class SummaryOut(Schema):
    policy: PolicyRef
    filters: dict[str, str]
    totals: TallyOut
    runs: int = Field(description="Visible runs matching the filters.")
    not_assessed: int = Field(description="...of which have no current assessment.")
    awaiting_assessment: int = Field(
        description="...whose current content is not assessed under the version in force."
    )
    by_source: list[TallyOut]
    by_experiment: list[TallyOut]
    by_department: list[TallyOut]
    by_classification: list[TallyOut]
    trend: list[TrendOut]
    failing_rules: list[FailingRuleOut]
    latest_non_compliant: list[LatestOut]


class RuleResultOut(Schema):
    rule_id: str
    title: str
    severity: str
    outcome: str
    observed: Any
    expected: Any
    message: str
    description: str = Field(description="The rule's plain-words description: how to fix it.")


class AssessmentOut(Schema):
    id: int
    policy_version: int
    verdict: str
    risk: str
    score: int
    failed_rules: int
    error: str
    assessed_at: dt.datetime
    is_current: bool


class CurrentAssessmentOut(AssessmentOut):
    results: list[RuleResultOut]


class RunPolicyOut(Schema):
    policy: str
    name: str
    version_in_force: int | None
    in_scope: bool
    stale_reason: str
    current: CurrentAssessmentOut | None
    history: list[AssessmentOut]


class RunAssessmentsOut(Schema):
    id: int
    run_id: str
    source: str
    policies: list[RunPolicyOut]


class RuleOut(Schema):
    id: str
    title: str
    description: str
    severity: str
    check: dict[str, Any]
    explained: str = Field(description="The check in plain words.")


class VersionOut(Schema):
    number: int
    state: str = Field(description="draft, in_force or superseded")
    created_at: dt.datetime
    created_by: str | None
    published_at: dt.datetime | None
    published_by: str | None
    notes: str
    content_hash: str
    rules: list[RuleOut]


class PolicyOut(Schema):
    slug: str
    name: str
    description: str
    sources: list[str]
    is_active: bool
    version_in_force: int | None
    draft_version: int | None


class PolicyDetailOut(PolicyOut):
    versions: list[VersionOut]


# --------------------------------------------------------------------------- helpers


def _tally(tally: Tally) -> dict[str, Any]:
    return {
        "key": tally.key,
        "label": tally.label,
        "source": tally.source or None,
        "total": tally.total,
        "compliant": tally.compliant,
        "non_compliant": tally.non_compliant,
        "error": tally.error,
        "compliance_rate": tally.rate,
        "risk": dict(tally.risk),
    }


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _policy_out(overview: PolicyOverview) -> dict[str, Any]:
    policy = overview.policy
    return {
        "slug": policy.slug,
        "name": policy.name,
        "description": policy.description,
        "sources": list(policy.source_names),
        "is_active": policy.is_active,
        "version_in_force": overview.current.number if overview.current else None,
        "draft_version": overview.draft.number if overview.draft else None,
    }


def _state(version: PolicyVersion, overview: PolicyOverview) -> str:
    if not version.is_published:
        return "draft"
    return "in_force" if version == overview.current else "superseded"


def _assessment(assessment: Any) -> dict[str, Any]:
    return {
        "id": assessment.pk,
        "policy_version": assessment.policy_version.number,
        "verdict": assessment.verdict,
        "risk": assessment.risk,
        "score": assessment.score,
        "failed_rules": assessment.failed_rules,
        "error": assessment.error,
        "assessed_at": assessment.assessed_at,
        "is_current": assessment.is_current,
    }


# --------------------------------------------------------------------------- endpoints


@router.get(
    "/compliance/summary",
    response={200: SummaryOut, 404: ErrorOut, 422: ErrorOut},
    summary="The compliance dashboard's figures, filtered like the dashboard",
)
def summary(request: HttpRequest, query: Query[SummaryFilters]) -> Any:
    given = {key: str(value) for key, value in query.dict().items() if value is not None}
    choices = filter_choices()
    form = ComplianceFilterForm(given, choices=choices)
    if not form.is_valid():
        return Status(422, {"detail": form.errors.get_json_data()})
    filters = form.filters()
    if filters is None:
        return Status(404, {"detail": "There is no compliance policy."})
    result = compliance_summary(filters, choices)
    failed = failed_rule_ids(a.pk for a in result.latest_non_compliant)
    return {
        "policy": {
            "slug": filters.policy.slug,
            "name": filters.policy.name,
            "version": filters.version.number if filters.version else None,
        },
        "filters": filters.params(scope_only=True),
        "totals": _tally(result.totals),
        "runs": result.runs,
        "not_assessed": result.not_assessed,
        "awaiting_assessment": result.awaiting,
        "by_source": [_tally(t) for t in result.by_source],
        "by_experiment": [_tally(t) for t in result.by_experiment],
        "by_department": [_tally(t) for t in result.by_department],
        "by_classification": [_tally(t) for t in result.by_classification],
        "trend": [
            {
                "week_start": p.week_start,
                "compliant": p.compliant,
                "non_compliant": p.non_compliant,
                "error": p.error,
            }
            for p in result.trend
        ],
        "failing_rules": [
            {
                "rule_id": r.rule_id,
                "title": r.title,
                "severity": r.severity,
                "runs": r.runs,
                "share": r.share,
            }
            for r in result.failing_rules
        ],
        "latest_non_compliant": [
            {
                "id": a.run.pk,
                "run_id": a.run.run_id,
                "run_name": a.run.run_name,
                "experiment": a.run.experiment.name,
                "source": a.run.source.name,
                "policy_version": a.policy_version.number,
                "risk": a.risk,
                "score": a.score,
                "failed_rules": failed.get(a.pk, []),
                "assessed_at": a.assessed_at,
            }
            for a in result.latest_non_compliant
        ],
    }


@router.get(
    "/runs/{run_id}/assessments",
    response={200: RunAssessmentsOut, 404: ErrorOut, 409: ErrorOut},
    summary="A run's current assessment under each policy, with rule results, and its history",
)
def run_assessments(request: HttpRequest, run_id: str, source: str | None = None) -> Any:
    run = run_by_mlflow_id(run_id, source)
    if not isinstance(run, Run):
        return run
    policies = []
    for item in run_compliance(run):
        current = None
        if item.current is not None:
            current = {
                **_assessment(item.current),
                "results": [
                    {
                        "rule_id": r.rule_id,
                        "title": r.title,
                        "severity": r.severity,
                        "outcome": r.outcome,
                        "observed": r.observed,
                        "expected": r.expected,
                        "message": r.message,
                        "description": r.description,
                    }
                    for r in item.results
                ],
            }
        policies.append(
            {
                "policy": item.policy.slug,
                "name": item.policy.name,
                "version_in_force": item.current_version.number if item.current_version else None,
                "in_scope": item.in_scope,
                "stale_reason": item.stale_reason,
                "current": current,
                "history": [_assessment(a) for a in item.history],
            }
        )
    return {"id": run.pk, "run_id": run.run_id, "source": run.source.name, "policies": policies}


@router.get("/policies", response=list[PolicyOut], summary="Compliance policies")
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    return [_policy_out(overview) for overview in policy_overviews()]


@router.get(
    "/policies/{slug}",
    response={200: PolicyDetailOut, 404: ErrorOut},
    summary="One policy: every version (newest first) with its rules",
)
def get_policy(request: HttpRequest, slug: str) -> Any:
    overview = policy_overview(slug)
    if overview is None:
        return Status(404, {"detail": "Not Found"})
    return {
        **_policy_out(overview),
        "versions": [
            {
                "number": version.number,
                "state": _state(version, overview),
                "created_at": version.created_at,
                "created_by": _username(version.created_by),
                "published_at": version.published_at,
                "published_by": _username(version.published_by),
                "notes": version.notes,
                "content_hash": version.content_hash,
                "rules": [
                    {
                        "id": rule.id,
                        "title": rule.title,
                        "description": rule.description,
                        "severity": rule.severity,
                        "check": dict(rule.check),
                        "explained": rule.explained,
                    }
                    for rule in rules_of(version)
                ],
            }
            for version in overview.versions
        ],
    }


@router.get(
    "/policies/{slug}/versions/{number}.yaml",
    response={200: str, 404: ErrorOut},
    summary="One version of a policy as YAML (the format edits and imports take)",
)
def get_policy_yaml(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = get_object_or_404(
        PolicyVersion.objects.select_related("policy"), policy__slug=slug, number=number
    )
    response = HttpResponse(policy_export_yaml(version), content_type="application/yaml")
    response["Content-Disposition"] = f'inline; filename="{slug}-v{number}.yaml"'
    return response
