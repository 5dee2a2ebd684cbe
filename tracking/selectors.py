"""Reads that feed pages, the API and commands alike."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone

from audit.selectors import recent_events
from kernel.errors import Conflict, NotFound
from kernel.reconcile import ATTENTION_ROWS, RECOVERED_SHOWN_FOR, WorkAttention
from tracking.audit_actions import TrackingAction
from tracking.models import (
    AliasChange,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)

# Newest first; the id breaks ties between syncs created in the same instant.
_NEWEST_SYNC = ("-created_at", "-pk")


def last_sync_by_source() -> dict[int, SyncRun]:
    """The newest SyncRun of every source, in two queries however long the history."""
    newest = SyncRun.objects.filter(source=OuterRef("pk")).order_by(*_NEWEST_SYNC).values("pk")[:1]
    ids = Source.objects.annotate(last_sync=Subquery(newest)).values_list("last_sync", flat=True)
    return {sync.source_id: sync for sync in SyncRun.objects.filter(pk__in=[i for i in ids if i])}


def last_sync(source: Source) -> SyncRun | None:
    """The newest SyncRun of one source (with its source and requester), in one query."""
    return (
        SyncRun.objects.filter(source=source)
        .select_related("source", "requested_by")
        .order_by(*_NEWEST_SYNC)
        .first()
    )


def model_versions_of_run(run: Run) -> QuerySet[ModelVersion]:
    """The model versions made from a run: linked to the mirrored run, or naming
    its MLflow run id in the same source (a version synced before its run)."""
    return (
        ModelVersion.objects.filter(
            Q(run=run) | Q(model__source_id=run.source_id, mlflow_run_id=run.run_id)
        )
        .select_related("model")
        .order_by("model__name", "-creation_time", "-id")
    )


def mirror_counts(*, source: Source) -> dict[str, int]:
    """What the mirror holds of a source now (deleted included, gone excluded)."""
    return {
        "experiments": Experiment.objects.filter(source=source, gone_at__isnull=True).count(),
        "runs": Run.objects.filter(source=source, gone_at__isnull=True).count(),
        "models": RegisteredModel.objects.filter(source=source, gone_at__isnull=True).count(),
        "versions": ModelVersion.objects.filter(model__source=source, gone_at__isnull=True).count(),
    }


def run_by_mlflow_id(run_id: str, source: str | None) -> Run:
    """The run with this MLflow id; NotFound, or Conflict when several sources
    hold the id and ``source`` does not say which."""
    candidates = Run.objects.select_related("source", "experiment").filter(run_id=run_id)
    if source:
        candidates = candidates.filter(source__name=source)
    found = list(candidates[:10])
    if not found:
        raise NotFound("Not Found")
    if len(found) > 1:
        names = sorted(run.source.name for run in found)
        raise Conflict(
            f"run {run_id} exists in several sources ({', '.join(names)}): add ?source=<name>"
        )
    return found[0]


def alias_history(model: RegisteredModel) -> QuerySet[AliasChange]:
    """Every observed move of the model's aliases, newest first, with who acknowledged it."""
    return model.alias_changes.select_related("acknowledged_by")


# --------------------------------------------------------------------------- work needing attention


def stale_after() -> dt.timedelta:
    """A sync queued or running without a report for this long is overdue
    (``GOVDASH_SYNC_STALE_SECONDS``); a running one has lost its worker."""
    return dt.timedelta(seconds=settings.SYNC_STALE_SECONDS)


def overdue_syncs(*, now: dt.datetime | None = None) -> QuerySet[SyncRun]:
    """Syncs queued, or running without a heartbeat, for longer than
    ``stale_after()``: the one definition the sources page and the count in
    ``/healthz`` share (docs/operations.md, Recovery)."""
    cutoff = (now or timezone.now()) - stale_after()
    return SyncRun.objects.filter(
        Q(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=SyncRun.Status.QUEUED, created_at__lt=cutoff)
    )


def _sync_url(source_name: str) -> str:
    return reverse("tracking:source", args=[source_name]) if source_name else ""


def syncs_needing_attention(*, limit: int = ATTENTION_ROWS) -> list[WorkAttention]:
    """Syncs overdue now, then what recovery did to syncs lately (when and
    why, from the audit trail), in two queries however many there are."""
    now = timezone.now()
    limit_seconds = settings.SYNC_STALE_SECONDS
    items = []
    for sync_run in overdue_syncs(now=now).select_related("source").order_by("created_at")[:limit]:
        if sync_run.status == SyncRun.Status.RUNNING:
            at = sync_run.heartbeat_at
            reason = (
                f"running, no progress reported for over {limit_seconds} s: its worker may "
                "be gone; the maintenance tick fails it and resumes from its checkpoint"
            )
        else:
            at = sync_run.created_at
            reason = (
                f"queued for over {limit_seconds} s and not started: is a worker "
                "listening on the sync queue?"
            )
        items.append(
            WorkAttention(
                what=f"Sync #{sync_run.pk} of {sync_run.source.name}",
                state="overdue",
                at=at,
                reason=reason,
                url=_sync_url(sync_run.source.name),
            )
        )
    recovered = recent_events(
        actions=(TrackingAction.SYNC_REQUEUED, TrackingAction.SYNC_LOST),
        since=now - RECOVERED_SHOWN_FOR,
        limit=limit,
    )
    for event in recovered:
        source_name = str(event.data.get("source", ""))
        items.append(
            WorkAttention(
                what=f"Sync #{event.target_id} of {source_name}",
                state="failed" if event.action == TrackingAction.SYNC_LOST else "requeued",
                at=event.timestamp,
                reason=str(event.data.get("reason", "")),
                url=_sync_url(source_name),
            )
        )
    return items
