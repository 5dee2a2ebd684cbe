"""The compliance panel of a run's page: every policy that applies to it or
has assessed it, with the rule results and the history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q

from reports.models import Assessment, Policy, PolicyVersion, RuleResult
from reports.rules import SEVERITIES, explain_check
from reports.selectors.common import rule_catalogue
from tracking.models import Run

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
    panels = []
    for policy in sorted(policies.values(), key=lambda p: p.name):
        history = [a for a in assessments if a.policy_id == policy.pk]
        current = next((a for a in history if a.is_current), None)
        published = policy.published_versions
        current_version = published[0] if published else None
        in_scope = (
            run.is_visible
            and policy.is_active
            and (not policy.source_names or run.source.name in policy.source_names)
        )
        if not history and not in_scope:
            continue
        results: list[RuleOutcome] = []
        stale = ""
        if current is not None:
            catalogue = rule_catalogue(current.policy_version)
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
