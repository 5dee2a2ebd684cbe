"""The gates a promotion must pass: at request time (a failure refuses the
request) and when its last stage completes (a failure invalidates it).

Each gate is a named function of the version and environment returning
``{"name", "passed", "detail"}`` with the detail in plain words (docs/approvals.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from approvals.models import CLASSIFICATIONS, Environment
from approvals.selectors import classification_rank, facts_digest, run_compliance_now
from tracking.models import ModelVersion

Gate = dict[str, Any]

# What the seed's validate_compliance requires of a version's tags.
REQUIRED_TAGS: tuple[str, ...] = ("classification", "compliance", "department")


def _gate(name: str, passed: bool, detail: str) -> Gate:
    return {"name": name, "passed": passed, "detail": detail}


def required_tags(version: ModelVersion, environment: Environment) -> Gate:
    tags = version.tags or {}
    missing = [tag for tag in REQUIRED_TAGS if not str(tags.get(tag, "")).strip()]
    if missing:
        return _gate("required_tags", False, f"the version lacks the tag(s): {', '.join(missing)}")
    value = str(tags["classification"])
    if value not in CLASSIFICATIONS:
        return _gate(
            "required_tags",
            False,
            f"the version's classification {value!r} is not one of {', '.join(CLASSIFICATIONS)}",
        )
    return _gate("required_tags", True, f"the version carries {', '.join(REQUIRED_TAGS)}")


def security_scan(version: ModelVersion, environment: Environment) -> Gate:
    value = str((version.tags or {}).get("security_scan", ""))
    if value == "passed":
        return _gate("security_scan", True, "security_scan is passed")
    if not value:
        return _gate("security_scan", False, "the version has no security_scan tag")
    return _gate("security_scan", False, f"security_scan is {value!r}, not 'passed'")


def considered_classification(version: ModelVersion) -> str:
    """The stricter of the version's and its source run's classification ("" if
    neither holds a known one; an unknown value counts as unknown, never as lax)."""
    values = [str((version.tags or {}).get("classification", ""))]
    if version.run is not None:
        values.append(str((version.run.tags or {}).get("classification", "")))
    known = [value for value in values if value in CLASSIFICATIONS]
    return max(known, key=classification_rank) if known else ""


def classification_allowed(version: ModelVersion, environment: Environment) -> Gate:
    value = considered_classification(version)
    allowed = list(environment.allowed_classifications or [])
    if not value:
        return _gate(
            "classification_allowed",
            False,
            "neither the version nor its source run carries a known classification",
        )
    unknown_run = version.run is not None and str(
        (version.run.tags or {}).get("classification", "")
    ) not in ("", *CLASSIFICATIONS)
    if unknown_run:
        return _gate(
            "classification_allowed",
            False,
            f"the source run's classification "
            f"{version.run.tags.get('classification')!r} is not one of "  # type: ignore[union-attr]
            f"{', '.join(CLASSIFICATIONS)}",
        )
    if value not in allowed:
        return _gate(
            "classification_allowed",
            False,
            f"{value} models may not go to {environment.name} "
            f"(it accepts: {', '.join(allowed) or 'nothing'})",
        )
    return _gate("classification_allowed", True, f"{value} is allowed in {environment.name}")


def run_compliant(version: ModelVersion, environment: Environment) -> Gate:
    result = run_compliance_now(version.run)
    return _gate("run_compliant", result.compliant, result.detail)


GATES: tuple[Callable[[ModelVersion, Environment], Gate], ...] = (
    required_tags,
    security_scan,
    classification_allowed,
    run_compliant,
)


def check(version: ModelVersion, environment: Environment) -> list[Gate]:
    """Every gate at request time (nothing can have changed yet)."""
    return [gate(version, environment) for gate in GATES]


def unchanged_since_snapshot(version: ModelVersion, frozen_digest: str) -> Gate:
    if facts_digest(version) == frozen_digest:
        return _gate(
            "unchanged_since_snapshot", True, "the version and its run are as in the snapshot"
        )
    return _gate(
        "unchanged_since_snapshot",
        False,
        "the version or its source run changed since the snapshot",
    )


def check_final(version: ModelVersion, environment: Environment, frozen_digest: str) -> list[Gate]:
    """The gates again when the last stage completes, plus "unchanged since the snapshot"."""
    return [*check(version, environment), unchanged_since_snapshot(version, frozen_digest)]


def failures(results: list[Gate]) -> list[str]:
    return [f"{gate['name']}: {gate['detail']}" for gate in results if not gate["passed"]]
