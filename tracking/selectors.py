"""Reads that feed pages, the API and commands alike."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from tracking.models import Source, SyncRun


def last_sync_by_source() -> dict[int, SyncRun]:
    """The newest SyncRun of every source, in two queries however long the history."""
    newest = (
        SyncRun.objects.filter(source=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    ids = Source.objects.annotate(last_sync=Subquery(newest)).values_list("last_sync", flat=True)
    return {sync.source_id: sync for sync in SyncRun.objects.filter(pk__in=[i for i in ids if i])}


def mirror_counts(*, source: Source) -> dict[str, int]:
    """What the mirror holds of a source now (deleted included, gone excluded)."""
    from tracking.models import Experiment, ModelVersion, RegisteredModel, Run

    return {
        "experiments": Experiment.objects.filter(source=source, gone_at__isnull=True).count(),
        "runs": Run.objects.filter(source=source, gone_at__isnull=True).count(),
        "models": RegisteredModel.objects.filter(source=source, gone_at__isnull=True).count(),
        "versions": ModelVersion.objects.filter(model__source=source, gone_at__isnull=True).count(),
    }
