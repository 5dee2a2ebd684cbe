from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.filters import AuditEventFilter
from audit.models import AuditEvent


def audit_events(*, filters: Mapping[str, Any]) -> tuple[AuditEventFilter, Any]:
    """The audit trail, filtered as the page and the CSV export both show it."""
    event_filter = AuditEventFilter(filters, queryset=AuditEvent.objects.all())
    return event_filter, event_filter.qs
