from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit.audit_actions import AuditAction
from audit.chain import canonical_json, format_timestamp
from audit.models import AuditEvent
from audit.permissions import EXPORT_EVENTS, VIEW_EVENTS
from audit.selectors import audit_events
from audit.services import record
from audit.tables import AuditEventTable
from kernel.csv import csv_lines
from kernel.http import BadParameter, private_no_store
from kernel.tables import configure_table

CSV_COLUMNS = (
    "sequence",
    "timestamp",
    "actor_username",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "data",
    "remote_addr",
    "request_id",
    "prev_hash",
    "hash",
)


@private_no_store
@permission_required(VIEW_EVENTS, raise_exception=True)
@require_GET
def log(request: HttpRequest) -> HttpResponse:
    event_filter, events = audit_events(filters=request.GET)
    table = AuditEventTable(events)
    configure_table(request, table, per_page=50)
    return render(request, "audit/log.html", {"filter": event_filter, "table": table})


def _csv_rows(events: QuerySet[AuditEvent]) -> Iterator[list[Any]]:
    for event in events.order_by("sequence").values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
        row = list(event)
        row[1] = format_timestamp(row[1])
        row[8] = canonical_json(row[8])
        yield row


def _recorded(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


@private_no_store
@permission_required(EXPORT_EVENTS, raise_exception=True)
@require_GET
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Stream the filtered trail: it can be millions of rows, so never build it in memory.

    An invalid filter is refused (400), never silently dropped: the export event
    records exactly the filters the rows were selected by."""
    event_filter, events = audit_events(filters=request.GET)
    form = event_filter.form
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
        raise BadParameter(f"Invalid filter, nothing was exported. {problems}")
    filters = {
        name: _recorded(value)
        for name, value in form.cleaned_data.items()
        if value not in (None, "")
    }
    with transaction.atomic():
        record(action=AuditAction.EXPORT, actor=request.user, data={"filters": filters})
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        csv_lines(CSV_COLUMNS, _csv_rows(events)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="govdash-audit-{stamp}.csv"'
    return response
