from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from audit.filters import AuditEventFilter
from audit.models import AuditEvent


def audit_events(*, filters: Mapping[str, Any]) -> tuple[AuditEventFilter, Any]:
    """The audit trail, filtered as the page and the CSV export both show it."""
    event_filter = AuditEventFilter(filters, queryset=AuditEvent.objects.all())
    return event_filter, event_filter.qs


def recent_events(
    *, actions: Iterable[StrEnum], since: dt.datetime, limit: int
) -> list[AuditEvent]:
    """The newest events of ``actions`` written since ``since``, newest first, in
    one query (pages showing what recovery did read them here)."""
    return list(
        AuditEvent.objects.filter(
            action__in=[str(a) for a in actions], timestamp__gte=since
        ).newest_first()[:limit]
    )
