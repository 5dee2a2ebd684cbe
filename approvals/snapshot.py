"""The evidence snapshot frozen when a promotion is requested.

Canonical JSON (sorted keys, separators ``(",", ":")``, UTF-8 text kept as it
is) of the version's metadata and tags, its source run (params, metrics,
tags), the run's current assessment under the active policy with every rule's
evidence, the gate results and the workflow; stored with its SHA-256 and never
changed afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from approvals.models import Environment
from approvals.selectors import canonical_json, run_compliance_now, sha256_text, version_facts
from tracking.models import ModelVersion

FORMAT = 1


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _version(version: ModelVersion) -> dict[str, Any]:
    return {
        "source": version.model.source.name,
        "model": version.model.name,
        "version": version.version,
        "source_uri": version.source_uri,
        "run_id": version.mlflow_run_id,
        "status": version.status,
        "description": version.description,
        "created": _when(version.creation_time),
        "aliases": list(version.aliases or []),
        "tags": dict(version.tags or {}),
    }


def _run(version: ModelVersion) -> dict[str, Any] | None:
    run = version.run
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "name": run.run_name,
        "experiment": run.experiment.name,
        "user": run.user_id,
        "status": run.status,
        "started": _when(run.start_time),
        "ended": _when(run.end_time),
        "params": dict(run.params or {}),
        "metrics": dict(run.metrics or {}),
        "tags": dict(run.tags or {}),
        "facts_hash": run.facts_hash,
    }


def _assessment(version: ModelVersion) -> dict[str, Any]:
    result = run_compliance_now(version.run)
    assessment = result.assessment
    out: dict[str, Any] = {"compliant": result.compliant, "detail": result.detail}
    if assessment is None:
        return out
    out.update(
        {
            "policy": assessment.policy.slug,
            "policy_version": assessment.policy_version.number,
            "verdict": assessment.verdict,
            "risk": assessment.risk,
            "score": assessment.score,
            "assessed_at": _when(assessment.assessed_at),
            "rules": [
                {
                    "rule": r.rule_id,
                    "title": r.title,
                    "severity": r.severity,
                    "outcome": r.outcome,
                    "observed": r.observed,
                    "expected": r.expected,
                    "message": r.message,
                }
                for r in assessment.results.order_by("id")
            ],
        }
    )
    return out


def build(
    *,
    version: ModelVersion,
    environment: Environment,
    requester: str,
    justification: str,
    rollback: bool,
    gates: list[dict[str, Any]],
    workflow: list[dict[str, Any]],
    at: dt.datetime,
) -> tuple[str, str]:
    """The snapshot's canonical JSON text and its SHA-256."""
    document = {
        "format": FORMAT,
        "taken_at": at.isoformat(),
        "request": {
            "environment": environment.name,
            "alias": environment.alias,
            "allowed_classifications": list(environment.allowed_classifications or []),
            "requester": requester,
            "justification": justification,
            "rollback": rollback,
        },
        "version": _version(version),
        "run": _run(version),
        "assessment": _assessment(version),
        "gates": gates,
        "workflow": workflow,
        "facts": version_facts(version),
    }
    text = canonical_json(document)
    return text, sha256_text(text)
