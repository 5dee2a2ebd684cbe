"""Reads of reports for the pages, the API and the command."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from reports.models import Report
from reports.permissions import VIEW_AUDIT, may_view_report


def reports_visible_to(user: Any) -> QuerySet[Report]:
    """Every report the user may see: audit extracts only for audit-trail viewers."""
    reports = Report.objects.select_related("requested_by", "policy_version__policy")
    if not user.has_perm(VIEW_AUDIT):
        reports = reports.exclude(kind=Report.Kind.AUDIT)
    return reports


def report_for(user: Any, pk: int) -> Report:
    """The report, or 404 when it does not exist or the user may not see it
    (an audit extract's existence is not revealed to others)."""
    report = get_object_or_404(Report.objects.select_related("requested_by"), pk=pk)
    if not may_view_report(user, report):
        from django.http import Http404

        raise Http404("no such report")
    return report
