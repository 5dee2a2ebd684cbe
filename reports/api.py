"""Compliance API, mounted at /api/v1/ by govdash.api: the dashboard's figures
(same filters, same selectors), a run's assessments, and policies.

Everything needs a signed-in session or a bearer token (the API's global auth);
errors are raised and answered by the API's one exception handler
(docs/operations.md, "API").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from kernel.api import ErrorOut, attach, require_valid
from kernel.errors import NotFound
from reports.forms import ComplianceFilterForm
from reports.models import Assessment, PolicyVersion
from reports.selectors.common import ComplianceFilters
from reports.selectors.dashboard import ComplianceSummary, Tally, compliance_summary, filter_choices
from reports.selectors.policies import (
    PolicyOverview,
    policy_overview,
    policy_overviews,
    policy_version,
    rules_of,
)
from reports.selectors.run_panel import PolicyCompliance, run_compliance
from reports.selectors.runs import failed_rule_ids
from reports.services import policy_export_audited
from tracking.models import Run
from tracking.selectors import run_by_mlflow_id

router = Router(tags=["compliance"])


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# --------------------------------------------------------------------------- schemas


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


# Read from the summary's filters.
class PolicyRef(Schema):
    slug: str = Field(alias="policy.slug")
    name: str = Field(alias="policy.name")
    version: int | None = Field(description="The published version in force.")

    @staticmethod
    def resolve_version(filters: ComplianceFilters) -> int | None:
        return filters.version.number if filters.version else None


class TallyOut(Schema):
    key: str = Field(description="The filter value selecting this group.")
    label: str
    source: str | None = Field(None, description="Experiments only: their source.")
    total: int
    compliant: int
    non_compliant: int
    error: int
    compliance_rate: float | None = Field(
        alias="rate", description="Per cent compliant of assessed runs."
    )
    risk: dict[str, int]

    @staticmethod
    def resolve_source(tally: Tally) -> str | None:
        return tally.source or None


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


# A non-compliant assessment; the endpoint attaches failed_rule_ids.
class LatestOut(Schema):
    id: int = Field(alias="run.pk", description="Mirror id of the run.")
    run_id: str = Field(alias="run.run_id")
    run_name: str = Field(alias="run.run_name")
    experiment: str = Field(alias="run.experiment.name")
    source: str = Field(alias="run.source.name")
    policy_version: int = Field(alias="policy_version.number")
    risk: str
    score: int
    failed_rules: list[str] = Field(alias="failed_rule_ids")
    assessed_at: dt.datetime


class SummaryOut(Schema):
    policy: PolicyRef
    filters: dict[str, str]
    totals: TallyOut
    runs: int = Field(description="Visible runs matching the filters.")
    not_assessed: int = Field(description="...of which have no current assessment.")
    awaiting_assessment: int = Field(
        alias="awaiting",
        description="...whose current content is not assessed under the version in force.",
    )
    by_source: list[TallyOut]
    by_experiment: list[TallyOut]
    by_department: list[TallyOut]
    by_classification: list[TallyOut]
    trend: list[TrendOut]
    failing_rules: list[FailingRuleOut]
    latest_non_compliant: list[LatestOut]

    @staticmethod
    def resolve_policy(summary: ComplianceSummary) -> ComplianceFilters:
        return summary.filters

    @staticmethod
    def resolve_filters(summary: ComplianceSummary) -> dict[str, str]:
        return summary.filters.params(scope_only=True)


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
    policy_version: int = Field(alias="policy_version.number")
    verdict: str
    risk: str
    score: int
    failed_rules: int
    error: str
    assessed_at: dt.datetime
    is_current: bool


# RunPolicyOut attaches outcomes (the selector's rule results).
class CurrentAssessmentOut(AssessmentOut):
    results: list[RuleResultOut] = Field(alias="outcomes")


class RunPolicyOut(Schema):
    policy: str = Field(alias="policy.slug")
    name: str = Field(alias="policy.name")
    version_in_force: int | None
    in_scope: bool
    stale_reason: str
    current: CurrentAssessmentOut | None
    history: list[AssessmentOut]

    @staticmethod
    def resolve_version_in_force(item: PolicyCompliance) -> int | None:
        return item.current_version.number if item.current_version else None

    @staticmethod
    def resolve_current(item: PolicyCompliance) -> Assessment | None:
        if item.current is None:
            return None
        return attach(item.current, outcomes=item.results)


# The endpoint attaches compliance (the selector's answer per policy).
class RunAssessmentsOut(Schema):
    id: int
    run_id: str
    source: str = Field(alias="source.name")
    policies: list[RunPolicyOut] = Field(alias="compliance")


class RuleOut(Schema):
    id: str
    title: str
    description: str
    severity: str
    check: dict[str, Any]
    explained: str = Field(description="The check in plain words.")


# PolicyDetailOut attaches state.
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

    @staticmethod
    def resolve_created_by(version: PolicyVersion) -> str | None:
        return _username(version.created_by)

    @staticmethod
    def resolve_published_by(version: PolicyVersion) -> str | None:
        return _username(version.published_by)

    @staticmethod
    def resolve_rules(version: PolicyVersion) -> list[Any]:
        return rules_of(version)


class PolicyOut(Schema):
    slug: str = Field(alias="policy.slug")
    name: str = Field(alias="policy.name")
    description: str = Field(alias="policy.description")
    sources: list[str] = Field(alias="policy.source_names")
    is_active: bool = Field(alias="policy.is_active")
    version_in_force: int | None
    draft_version: int | None

    @staticmethod
    def resolve_version_in_force(overview: PolicyOverview) -> int | None:
        return overview.current.number if overview.current else None

    @staticmethod
    def resolve_draft_version(overview: PolicyOverview) -> int | None:
        return overview.draft.number if overview.draft else None


def _state(version: PolicyVersion, in_force: PolicyVersion | None) -> str:
    if not version.is_published:
        return "draft"
    return "in_force" if version == in_force else "superseded"


class PolicyDetailOut(PolicyOut):
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(overview: PolicyOverview) -> list[PolicyVersion]:
        in_force = overview.current
        return [attach(version, state=_state(version, in_force)) for version in overview.versions]


# --------------------------------------------------------------------------- endpoints


@router.get(
    "/compliance/summary",
    response={200: SummaryOut, 404: ErrorOut, 422: ErrorOut},
    summary="The compliance dashboard's figures, filtered like the dashboard",
)
def summary(request: HttpRequest, query: Query[SummaryFilters]) -> ComplianceSummary:
    given = {key: str(value) for key, value in query.dict().items() if value is not None}
    choices = filter_choices()
    form = ComplianceFilterForm(given, choices=choices)
    require_valid(form)
    filters = form.filters()
    if filters is None:
        raise NotFound("There is no compliance policy.")
    result = compliance_summary(filters, choices)
    failed = failed_rule_ids(a.pk for a in result.latest_non_compliant)
    for assessment in result.latest_non_compliant:
        attach(assessment, failed_rule_ids=failed.get(assessment.pk, []))
    return result


@router.get(
    "/runs/{run_id}/assessments",
    response={200: RunAssessmentsOut, 404: ErrorOut, 409: ErrorOut},
    summary="A run's current assessment under each policy, with rule results, and its history",
)
def run_assessments(request: HttpRequest, run_id: str, source: str | None = None) -> Run:
    run = run_by_mlflow_id(run_id, source)
    return attach(run, compliance=run_compliance(run))


@router.get("/policies", response=list[PolicyOut], summary="Compliance policies")
def list_policies(request: HttpRequest) -> list[PolicyOverview]:
    return policy_overviews()


@router.get(
    "/policies/{slug}",
    response={200: PolicyDetailOut, 404: ErrorOut},
    summary="One policy: every version (newest first) with its rules",
)
def get_policy(request: HttpRequest, slug: str) -> PolicyOverview:
    overview = policy_overview(slug)
    if overview is None:
        raise Http404
    return overview


@router.get(
    "/policies/{slug}/versions/{number}.yaml",
    response={200: str, 404: ErrorOut},
    summary="One version of a policy as YAML (the format edits and imports take)",
)
def get_policy_yaml(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = policy_version(slug=slug, number=number)
    text = policy_export_audited(version=version, actor=request.user)  # type: ignore[arg-type]
    response = HttpResponse(text, content_type="application/yaml")
    response["Content-Disposition"] = f'inline; filename="{slug}-v{number}.yaml"'
    return response
