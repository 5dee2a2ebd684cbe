"""Policies and their rules, in words a compliance officer can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Prefetch, QuerySet, When

from kernel.errors import NotFound
from reports.models import Policy, PolicyVersion
from reports.rules import explain_check


def default_policy() -> Policy | None:
    """The policy shown when none is chosen: ``default`` if active, else the first active."""
    return (
        Policy.objects.annotate(
            not_default=Case(When(slug="default", then=0), default=1, output_field=IntegerField())
        )
        .order_by("-is_active", "not_default", "name")
        .first()
    )


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


def _versions_prefetch() -> Prefetch[str, QuerySet[PolicyVersion], str]:
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


def policy_version(*, slug: str, number: int) -> PolicyVersion:
    """Version ``number`` of the policy ``slug``, with its policy; NotFound otherwise."""
    found = (
        PolicyVersion.objects.select_related("policy")
        .filter(policy__slug=slug, number=number)
        .first()
    )
    if found is None:
        raise NotFound(f"policy {slug} has no version {number}")
    return found
