"""The compliance app's rights (granted to roles in kernel.roles.GRANTS).

Reading dashboards, assessments and policies is open to every signed-in user.
Reports: every signed-in user may view experiment reports and dossiers; audit
extracts only those who may view the audit trail (``may_view_report``).
"""

from __future__ import annotations

from typing import Any

from kernel.permissions import Right

ASSESS_RUNS = "reports.assess_runs"
EDIT_POLICY = "reports.edit_policy"
PUBLISH_POLICY = "reports.publish_policy"
# Experiment reports and audit extracts (which also need VIEW_AUDIT).
REQUEST_REPORT = "reports.request_report"
REQUEST_DOSSIER = "reports.request_dossier"  # model version dossiers
VIEW_AUDIT = "audit.view_auditevent"

TABLE = (
    Right(ASSESS_RUNS, "Queue assessment of the runs that need it"),
    Right(EDIT_POLICY, "Edit or import a compliance policy (as a draft)"),
    Right(PUBLISH_POLICY, "Publish a policy version, which queues re-assessment"),
    Right(REQUEST_REPORT, "Request experiment compliance reports and audit extracts (PDF)"),
    Right(REQUEST_DOSSIER, "Request a model version dossier (PDF)"),
)


def may_request_report(user: Any, kind: str) -> bool:
    """May ``user`` ask for a report of ``kind`` ("experiment", "model-version", "audit")?"""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if kind == "audit":
        return bool(user.has_perm(REQUEST_REPORT) and user.has_perm(VIEW_AUDIT))
    if kind == "model-version":
        return bool(user.has_perm(REQUEST_DOSSIER))
    return bool(user.has_perm(REQUEST_REPORT))


def may_request_any_report(user: Any) -> bool:
    return any(may_request_report(user, kind) for kind in ("experiment", "model-version", "audit"))


def may_view_report(user: Any, report: Any) -> bool:
    """Experiment reports and dossiers: every signed-in user; audit extracts:
    those who may view the audit trail."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if report.kind == "audit":
        return bool(user.has_perm(VIEW_AUDIT))
    return True
