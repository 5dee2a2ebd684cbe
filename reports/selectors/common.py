"""What the compliance reads share: the filters (dashboard, runs table, CSV,
API), how classification and department values are normalised, and the
condition selecting the runs the filters match.

Grouping by classification and department normalises values the way the rules
compare them (surrounding spaces ignored, case folded; blank is "(none)"). The
database groups by the raw value and Python merges the few raw variants of a
value: SQLite's LOWER() folds ASCII only, and ``str.casefold`` is the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from reports.models import Assessment, Policy, PolicyVersion
from reports.rules import RISK_LEVELS
from tracking.models import Experiment, Source, visible_q

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


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def run_conditions(filters: ComplianceFilters, choices: FilterChoices, prefix: str = "") -> Q:
    """Conditions on runs (visible, in the policy's scope, filtered), seen from
    the model the query starts at: ``prefix`` is the path to the run."""

    def on(lookup: str, value: Any) -> Q:
        return Q(**{prefix + lookup: value})

    condition = visible_q(prefix)
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
        run_conditions(filters, choices, "run__")
    )


def rule_catalogue(version: PolicyVersion | None) -> dict[str, Mapping[str, Any]]:
    return {rule["id"]: rule for rule in (version.rules if version else [])}
