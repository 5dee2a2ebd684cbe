"""Reads that feed pages, the API and commands alike."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from kernel.errors import Conflict, NotFound
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
