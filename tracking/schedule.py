"""Scheduled syncs: each source may ask to be synced every N minutes.

``manage.py scheduler`` runs a tick every minute that enqueues the
syncs that are due; the syncs themselves run on the workers.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from tracking.models import Source, SyncRun

logger = logging.getLogger(__name__)


def sources_due(*, now: dt.datetime | None = None) -> list[Source]:
    """Sources with a schedule whose last sync started at least an interval ago
    and that have no sync queued or running."""
    now = now or timezone.now()
    newest = SyncRun.objects.filter(source=OuterRef("pk")).order_by("-created_at", "-pk")
    sources = (
        Source.objects.filter(sync_interval_minutes__isnull=False, sync_interval_minutes__gt=0)
        .annotate(
            last_requested=Subquery(newest.values("created_at")[:1]),
            last_status=Subquery(newest.values("status")[:1]),
        )
        .order_by("name")
    )
    due: list[Source] = []
    for source in sources:
        if source.last_status in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
            continue
        interval = dt.timedelta(minutes=source.sync_interval_minutes or 0)
        if source.last_requested is None or now - source.last_requested >= interval:
            due.append(source)
    return due


def enqueue_due_syncs(*, now: dt.datetime | None = None) -> list[int]:
    """Queue every due sync; returns the SyncRun ids queued."""
    from tracking.jobs import QueueUnavailable, sync_enqueue
    from tracking.services import SyncAlreadyRunning

    queued = []
    for source in sources_due(now=now):
        try:
            queued.append(sync_enqueue(source=source).pk)
        except SyncAlreadyRunning:
            continue
        except QueueUnavailable as exc:
            logger.error("scheduled sync of %s not queued: %s", source.name, exc)
    return queued
