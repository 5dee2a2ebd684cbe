"""Read API of the mirror, and starting a sync: mounted at /api/v1/ by govdash.api.

Lists filter like the pages do (the same FilterSets) and page with limit/offset,
at most 500 rows a page. No credential is ever returned: a source says where
its credential comes from (the variable's name, or "stored"), never what it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db.models import QuerySet, prefetch_related_objects
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Query, Router, Schema

try:
    from ninja import Status
except ImportError:  # django-ninja < 1.7 takes (status, body) tuples

    def Status(status_code: int, value: Any) -> Any:  # type: ignore[no-redef]
        return status_code, value


from tracking import links
from tracking.filters import ExperimentFilter, ModelFilter, RunFilter, runs_for_list
from tracking.jobs import QueueUnavailable, sync_enqueue
from tracking.models import (
    AliasChange,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)
from tracking.permissions import SYNC_SOURCE
from tracking.selectors import last_sync, last_sync_by_source, model_versions_of_run
from tracking.services import SyncAlreadyRunning

router = Router(tags=["tracking"])

MAX_PAGE = 500


# --------------------------------------------------------------------------- schemas


class ErrorOut(Schema):
    detail: Any


class SyncRunOut(Schema):
    id: int
    source: str
    status: Literal["queued", "running", "succeeded", "failed"]
    full: bool
    phase: str
    progress_done: int
    progress_total: int | None
    percent: int | None
    counts: dict[str, int]
    error: str
    requested_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_seconds: float | None


class SourceOut(Schema):
    name: str
    kind: Literal["mlflow", "gitlab"]
    url: str
    web_url: str | None = Field(description="The MLflow UI, or the GitLab project page.")
    auth: Literal["none", "bearer", "basic"]
    credential: Literal["none", "environment", "stored"] = Field(
        description="Where the credential comes from; its value is never returned."
    )
    secret_env: str = Field(description="The environment variable's name, if any.")
    sync_interval_minutes: int | None
    watched_aliases: list[str]
    capabilities: dict[str, Any]
    capabilities_checked_at: dt.datetime | None
    created_at: dt.datetime
    last_sync: SyncRunOut | None


class ExperimentRef(Schema):
    id: int
    experiment_id: str
    name: str


class ExperimentOut(ExperimentRef):
    source: str
    lifecycle_stage: str
    deleted: bool = Field(description="Deleted on the server, or gone from it.")
    gone_at: dt.datetime | None
    artifact_location: str
    creation_time: dt.datetime | None
    last_update_time: dt.datetime | None
    tags: dict[str, str]
    synced_at: dt.datetime


class ExperimentPage(Schema):
    count: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[ExperimentOut]


class RunOut(Schema):
    id: int
    source: str
    experiment: ExperimentRef
    run_id: str
    run_name: str
    status: str
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    user_id: str
    lifecycle_stage: str
    deleted: bool = Field(description="Deleted on the server, or gone from it.")
    gone_at: dt.datetime | None
    classification: str


class RunPage(Schema):
    count: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[RunOut]


class MetricOut(Schema):
    value: float | None
    step: int | None
    timestamp: int | None


class VersionRef(Schema):
    model_id: int
    model: str
    version: str
    aliases: list[str]


class RunDetailOut(RunOut):
    artifact_uri: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricOut]
    model_versions: list[VersionRef]
    first_seen_at: dt.datetime
    synced_at: dt.datetime
    changed_at: dt.datetime
    web_url: str | None = Field(description="The run in MLflow (the project page for GitLab).")


class ModelOut(Schema):
    id: int
    source: str
    name: str
    description: str
    aliases: dict[str, str]
    tags: dict[str, str]
    creation_time: dt.datetime | None
    last_updated_time: dt.datetime | None
    gone_at: dt.datetime | None


class ModelPage(Schema):
    count: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[ModelOut]


class VersionOut(Schema):
    version: str
    semver: str
    status: str
    current_stage: str
    aliases: list[str]
    mlflow_run_id: str
    run: int | None = Field(
        description="The mirrored run's id (GET /runs/{run_id} takes mlflow_run_id)."
    )
    source_uri: str
    description: str
    tags: dict[str, str]
    creation_time: dt.datetime | None
    last_updated_time: dt.datetime | None
    gone_at: dt.datetime | None


class AliasChangeOut(Schema):
    id: int
    alias: str
    from_version: str = Field(description='"" when the alias was new.')
    to_version: str = Field(description='"" when the alias was removed.')
    observed_at: dt.datetime
    sync_run: int | None
    unapproved: bool = Field(description="Moved to a version govdash did not approve.")
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None


class ModelDetailOut(ModelOut):
    versions: list[VersionOut]
    alias_history: list[AliasChangeOut]
    open_alerts: int
    web_url: str | None


class SyncStartedOut(Schema):
    sync_run: SyncRunOut
    progress_url: str


class SyncConflictOut(Schema):
    detail: str
    sync_run: SyncRunOut


# --------------------------------------------------------------------------- queries


class Paging(Schema):
    limit: int = Field(100, ge=1, le=MAX_PAGE, description=f"Rows per page, at most {MAX_PAGE}.")
    offset: int = Field(0, ge=0)


class RunQuery(Paging):
    q: str | None = Field(None, description="Run name or id contains.")
    source: str | None = Field(None, description="Source name.")
    experiment: int | None = Field(None, description="govdash experiment id.")
    status: str | None = Field(None, description="RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.")
    lifecycle: Literal["active", "deleted", "all"] = Field(
        "active", description="active (default), deleted (deleted or gone), all."
    )
    classification: str | None = Field(None, description="Exact, case-insensitive.")
    tag: str | None = Field(None, description="key (tag is set) or key=value.")


class ExperimentQuery(Paging):
    q: str | None = Field(None, description="Name contains.")
    source: str | None = None
    lifecycle: Literal["active", "deleted", "all"] = "active"
    tag: str | None = None


class ModelQuery(Paging):
    q: str | None = Field(None, description="Name contains.")
    source: str | None = None
    state: Literal["current", "gone", "all"] = "current"
    alias: str | None = Field(None, description="Has this alias.")
    alerts: Literal["open"] | None = Field(None, description="open: with open alerts only.")


def _filter_data(query: Schema) -> dict[str, str]:
    skip = {"limit", "offset"}
    return {
        key: str(value)
        for key, value in query.dict().items()
        if key not in skip and value not in (None, "")
    }


def _page(queryset: QuerySet[Any], paging: Paging, convert: Any) -> dict[str, Any]:
    count = queryset.count()
    rows = queryset[paging.offset : paging.offset + paging.limit]
    following = paging.offset + paging.limit
    return {
        "count": count,
        "limit": paging.limit,
        "offset": paging.offset,
        "next_offset": following if following < count else None,
        "items": [convert(row) for row in rows],
    }


# --------------------------------------------------------------------------- converters


def _sync_out(sync: SyncRun) -> dict[str, Any]:
    return {
        "id": sync.pk,
        "source": sync.source.name,
        "status": sync.status,
        "full": sync.full,
        "phase": sync.phase,
        "progress_done": sync.progress_done,
        "progress_total": sync.progress_total,
        "percent": sync.percent,
        "counts": {str(k): int(v) for k, v in (sync.counts or {}).items()},
        "error": sync.error,
        "requested_by": sync.requested_by.get_username() if sync.requested_by else None,
        "created_at": sync.created_at,
        "started_at": sync.started_at,
        "finished_at": sync.finished_at,
        "duration_seconds": sync.duration_seconds,
    }


def _source_out(source: Source, last_sync: SyncRun | None) -> dict[str, Any]:
    if source.secret_env:
        credential = "environment"
    elif source.secret_encrypted:
        credential = "stored"
    else:
        credential = "none"
    return {
        "name": source.name,
        "kind": source.kind,
        "url": links.display_url(source.url),
        "web_url": links.mlflow_ui(source),
        "auth": source.auth,
        "credential": credential,
        "secret_env": source.secret_env,
        "sync_interval_minutes": source.sync_interval_minutes,
        "watched_aliases": source.watched,
        "capabilities": source.capabilities or {},
        "capabilities_checked_at": source.capabilities_checked_at,
        "created_at": source.created_at,
        "last_sync": _sync_out(last_sync) if last_sync else None,
    }


def _experiment_ref(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.pk,
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
    }


def _experiment_out(experiment: Experiment) -> dict[str, Any]:
    return {
        **_experiment_ref(experiment),
        "source": experiment.source.name,
        "lifecycle_stage": experiment.lifecycle_stage,
        "deleted": experiment.is_deleted,
        "gone_at": experiment.gone_at,
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
        "tags": _strings(experiment.tags),
        "synced_at": experiment.synced_at,
    }


def _strings(data: dict[str, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (data or {}).items()}


def _run_out(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "source": run.source.name,
        "experiment": _experiment_ref(run.experiment),
        "run_id": run.run_id,
        "run_name": run.run_name,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "user_id": run.user_id,
        "lifecycle_stage": run.lifecycle_stage,
        "deleted": run.is_deleted,
        "gone_at": run.gone_at,
        "classification": run.classification,
    }


def _metric(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        value = {"value": value}
    return {
        "value": value.get("value"),
        "step": value.get("step"),
        "timestamp": value.get("timestamp"),
    }


def _model_out(model: RegisteredModel) -> dict[str, Any]:
    return {
        "id": model.pk,
        "source": model.source.name,
        "name": model.name,
        "description": model.description,
        "aliases": _strings(model.aliases),
        "tags": _strings(model.tags),
        "creation_time": model.creation_time,
        "last_updated_time": model.last_updated_time,
        "gone_at": model.gone_at,
    }


def _version_out(version: ModelVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "semver": version.semver,
        "status": version.status,
        "current_stage": version.current_stage,
        "aliases": [str(alias) for alias in version.aliases or []],
        "mlflow_run_id": version.mlflow_run_id,
        "run": version.run_id,
        "source_uri": version.source_uri,
        "description": version.description,
        "tags": _strings(version.tags),
        "creation_time": version.creation_time,
        "last_updated_time": version.last_updated_time,
        "gone_at": version.gone_at,
    }


def _alias_change_out(change: AliasChange) -> dict[str, Any]:
    return {
        "id": change.pk,
        "alias": change.alias,
        "from_version": change.from_version,
        "to_version": change.to_version,
        "observed_at": change.observed_at,
        "sync_run": change.sync_run_id,
        "unapproved": change.unapproved,
        "acknowledged_at": change.acknowledged_at,
        "acknowledged_by": (
            change.acknowledged_by.get_username() if change.acknowledged_by else None
        ),
    }


# --------------------------------------------------------------------------- endpoints


@router.get("/sources", response=list[SourceOut], summary="Tracking sources, with their last sync")
def list_sources(request: HttpRequest) -> list[dict[str, Any]]:
    last = last_sync_by_source()
    prefetch_related_objects(list(last.values()), "source", "requested_by")
    return [_source_out(source, last.get(source.pk)) for source in Source.objects.all()]


@router.get("/sources/{name}", response=SourceOut, summary="One source, with its last sync")
def get_source(request: HttpRequest, name: str) -> dict[str, Any]:
    source = get_object_or_404(Source, name=name)
    return _source_out(source, last_sync(source))


@router.post(
    "/sources/{name}/sync",
    response={202: SyncStartedOut, 403: ErrorOut, 409: SyncConflictOut, 503: ErrorOut},
    summary="Start a sync (administrators and compliance officers)",
)
def start_sync(request: HttpRequest, name: str, full: bool = False) -> Any:
    if not request.user.has_perm(SYNC_SOURCE):
        return Status(403, {"detail": "Only compliance officers and administrators start syncs."})
    source = get_object_or_404(Source, name=name)
    try:
        sync_run = sync_enqueue(source=source, full=full, actor=request.user)  # type: ignore[arg-type]
    except SyncAlreadyRunning as exc:
        active = SyncRun.objects.select_related("source", "requested_by").get(pk=exc.sync_run.pk)
        return Status(
            409,
            {
                "detail": f"a sync of {source.name} is already {active.status}",
                "sync_run": _sync_out(active),
            },
        )
    except QueueUnavailable as exc:
        return Status(503, {"detail": str(exc)})
    sync_run = SyncRun.objects.select_related("source", "requested_by").get(pk=sync_run.pk)
    return Status(
        202,
        {
            "sync_run": _sync_out(sync_run),
            "progress_url": reverse("api:get_sync_run", args=[sync_run.pk]),
        },
    )


@router.get("/sync-runs/{sync_run_id}", response=SyncRunOut, summary="A sync and its progress")
def get_sync_run(request: HttpRequest, sync_run_id: int) -> dict[str, Any]:
    sync = get_object_or_404(
        SyncRun.objects.select_related("source", "requested_by"), pk=sync_run_id
    )
    return _sync_out(sync)


def _invalid(filterset: Any) -> Any:
    if filterset.is_valid():
        return None
    return Status(422, {"detail": filterset.errors.get_json_data()})


@router.get(
    "/experiments",
    response={200: ExperimentPage, 422: ErrorOut},
    summary="Experiments; deleted ones only when asked (lifecycle=deleted|all)",
)
def list_experiments(request: HttpRequest, query: Query[ExperimentQuery]) -> Any:
    filterset = ExperimentFilter(
        _filter_data(query), queryset=Experiment.objects.select_related("source")
    )
    return _invalid(filterset) or _page(filterset.qs.order_by("name", "id"), query, _experiment_out)


@router.get(
    "/runs",
    response={200: RunPage, 422: ErrorOut},
    summary="Runs across experiments, filtered like the runs table",
)
def list_runs(request: HttpRequest, query: Query[RunQuery]) -> Any:
    filterset = RunFilter(_filter_data(query), queryset=runs_for_list())
    return _invalid(filterset) or _page(filterset.qs, query, _run_out)


def run_by_mlflow_id(run_id: str, source: str | None) -> Run | Any:
    """The run with this MLflow id, or the 404/409 answer the API gives instead
    (the same id may exist in several sources)."""
    candidates = Run.objects.select_related("source", "experiment").filter(run_id=run_id)
    if source:
        candidates = candidates.filter(source__name=source)
    found = list(candidates[:10])
    if not found:
        return Status(404, {"detail": "Not Found"})
    if len(found) > 1:
        names = sorted(run.source.name for run in found)
        return Status(
            409,
            {
                "detail": f"run {run_id} exists in several sources ({', '.join(names)}): "
                "add ?source=<name>"
            },
        )
    return found[0]


@router.get(
    "/runs/{run_id}",
    response={200: RunDetailOut, 404: ErrorOut, 409: ErrorOut},
    summary="One run by its MLflow run id (add ?source= if several sources hold it)",
)
def get_run(request: HttpRequest, run_id: str, source: str | None = None) -> Any:
    run = run_by_mlflow_id(run_id, source)
    if not isinstance(run, Run):
        return run
    versions = model_versions_of_run(run)
    return {
        **_run_out(run),
        "artifact_uri": run.artifact_uri,
        "params": _strings(run.params),
        "tags": _strings(run.tags),
        "metrics": {str(key): _metric(value) for key, value in (run.metrics or {}).items()},
        "model_versions": [
            {
                "model_id": version.model_id,
                "model": version.model.name,
                "version": version.version,
                "aliases": [str(alias) for alias in version.aliases or []],
            }
            for version in versions
        ],
        "first_seen_at": run.first_seen_at,
        "synced_at": run.synced_at,
        "changed_at": run.changed_at,
        "web_url": links.run_link(run),
    }


@router.get(
    "/models",
    response={200: ModelPage, 422: ErrorOut},
    summary="Registered models with their aliases",
)
def list_models(request: HttpRequest, query: Query[ModelQuery]) -> Any:
    filterset = ModelFilter(
        _filter_data(query), queryset=RegisteredModel.objects.select_related("source")
    )
    return _invalid(filterset) or _page(filterset.qs.order_by("name", "id"), query, _model_out)


@router.get(
    "/models/{model_id}",
    response=ModelDetailOut,
    summary="One model: versions, current aliases and the alias history",
)
def get_model(request: HttpRequest, model_id: int) -> dict[str, Any]:
    model = get_object_or_404(
        RegisteredModel.objects.with_open_alerts().select_related("source"), pk=model_id
    )
    history = list(model.alias_changes.select_related("acknowledged_by"))
    return {
        **_model_out(model),
        "versions": [_version_out(version) for version in model.versions.all()],
        "alias_history": [_alias_change_out(change) for change in history],
        "open_alerts": model.open_alert_count(),
        "web_url": links.model_link(model),
    }
