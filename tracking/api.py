"""Read API of the mirror, and starting a sync: mounted at /api/v1/ by govdash.api.

Lists filter like the pages do (the same FilterSets) and page with limit/offset
(kernel.api.LimitOffsetPage: at most 500 rows a page). Errors are raised and
answered by the API's one exception handler (docs/operations.md, "API"). No
credential is ever returned: a source says where its credential comes from (the
variable's name, or "stored"), never what it is.
"""

# No ``from __future__ import annotations`` here: ninja resolves the parameters of
# a paginated endpoint in the globals of ninja.pagination's wrapper, where string
# annotations (Query[RunQuery]) cannot be found.

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, prefetch_related_objects
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from kernel.api import (
    AnswerWith,
    ErrorOut,
    KeysetPage,
    LimitOffsetPage,
    TextList,
    TextMap,
    attach,
    require_valid,
)
from kernel.errors import Conflict
from tracking import links
from tracking.filters import RUN_KEYSET, ExperimentFilter, ModelFilter, RunFilter, runs_for_list
from tracking.jobs import sync_enqueue
from tracking.models import (
    AliasChange,
    Experiment,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)
from tracking.permissions import SYNC_SOURCE
from tracking.selectors import (
    alias_history,
    last_sync,
    last_sync_by_source,
    model_versions_of_run,
    run_by_mlflow_id,
)
from tracking.services import SyncAlreadyRunning

router = Router(tags=["tracking"])


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# --------------------------------------------------------------------------- schemas


class SyncRunOut(Schema):
    id: int
    source: str = Field(alias="source.name")
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

    @staticmethod
    def resolve_counts(sync: SyncRun) -> dict[str, int]:
        return {str(key): int(value) for key, value in (sync.counts or {}).items()}

    @staticmethod
    def resolve_requested_by(sync: SyncRun) -> str | None:
        return _username(sync.requested_by)


# The endpoint attaches last_sync.
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
    watched_aliases: list[str] = Field(alias="watched")
    capabilities: dict[str, Any]
    capabilities_checked_at: dt.datetime | None
    created_at: dt.datetime
    last_sync: SyncRunOut | None

    @staticmethod
    def resolve_url(source: Source) -> str:
        return links.display_url(source.url)

    @staticmethod
    def resolve_web_url(source: Source) -> str | None:
        return links.mlflow_ui(source)

    @staticmethod
    def resolve_credential(source: Source) -> str:
        if source.secret_env:
            return "environment"
        return "stored" if source.secret_encrypted else "none"

    @staticmethod
    def resolve_capabilities(source: Source) -> dict[str, Any]:
        return source.capabilities or {}


class ExperimentRef(Schema):
    id: int
    experiment_id: str
    name: str


class ExperimentOut(ExperimentRef):
    source: str = Field(alias="source.name")
    lifecycle_stage: str
    deleted: bool = Field(alias="is_deleted", description="Deleted on the server, or gone from it.")
    gone_at: dt.datetime | None
    artifact_location: str
    creation_time: dt.datetime | None
    last_update_time: dt.datetime | None
    tags: TextMap
    synced_at: dt.datetime


class RunOut(Schema):
    id: int
    source: str = Field(alias="source.name")
    experiment: ExperimentRef
    run_id: str
    run_name: str
    status: str
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    user_id: str
    lifecycle_stage: str
    deleted: bool = Field(alias="is_deleted", description="Deleted on the server, or gone from it.")
    gone_at: dt.datetime | None
    classification: str


class MetricOut(Schema):
    # Each is present, null when the stored metric lacks it.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    value: float | None = None
    step: int | None = None
    timestamp: int | None = None


class VersionRef(Schema):
    model_id: int
    model: str = Field(alias="model.name")
    version: str
    aliases: TextList


# The endpoint attaches versions_of_run (the run's model versions).
class RunDetailOut(RunOut):
    artifact_uri: str
    params: TextMap
    tags: TextMap
    metrics: dict[str, MetricOut]
    model_versions: list[VersionRef] = Field(alias="versions_of_run")
    first_seen_at: dt.datetime
    synced_at: dt.datetime
    changed_at: dt.datetime
    web_url: str | None = Field(description="The run in MLflow (the project page for GitLab).")

    @staticmethod
    def resolve_metrics(run: Run) -> dict[str, Any]:
        # Each metric is stored as {"value", "step", "timestamp"}; a bare number is its value.
        return {
            str(key): value if isinstance(value, dict) else {"value": value}
            for key, value in (run.metrics or {}).items()
        }

    @staticmethod
    def resolve_web_url(run: Run) -> str | None:
        return links.run_link(run)


class ModelOut(Schema):
    id: int
    source: str = Field(alias="source.name")
    name: str
    description: str
    aliases: TextMap
    tags: TextMap
    creation_time: dt.datetime | None
    last_updated_time: dt.datetime | None
    gone_at: dt.datetime | None


class VersionOut(Schema):
    version: str
    semver: str
    status: str
    current_stage: str
    aliases: TextList
    mlflow_run_id: str
    run: int | None = Field(
        alias="run_id",
        description="The mirrored run's id (GET /runs/{run_id} takes mlflow_run_id).",
    )
    source_uri: str
    description: str
    tags: TextMap
    creation_time: dt.datetime | None
    last_updated_time: dt.datetime | None
    gone_at: dt.datetime | None


class AliasChangeOut(Schema):
    id: int
    alias: str
    from_version: str = Field(description='"" when the alias was new.')
    to_version: str = Field(description='"" when the alias was removed.')
    observed_at: dt.datetime
    sync_run: int | None = Field(alias="sync_run_id")
    unapproved: bool = Field(description="Moved to a version govdash did not approve.")
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None

    @staticmethod
    def resolve_acknowledged_by(change: AliasChange) -> str | None:
        return _username(change.acknowledged_by)


# The endpoint attaches alias_history and open_alerts.
class ModelDetailOut(ModelOut):
    versions: list[VersionOut]
    alias_history: list[AliasChangeOut]
    open_alerts: int
    web_url: str | None

    @staticmethod
    def resolve_web_url(model: RegisteredModel) -> str | None:
        return links.model_link(model)


class SyncStartedOut(Schema):
    sync_run: SyncRunOut
    progress_url: str

    @staticmethod
    def resolve_sync_run(sync: SyncRun) -> SyncRun:
        return sync

    @staticmethod
    def resolve_progress_url(sync: SyncRun) -> str:
        return reverse("api:get_sync_run", args=[sync.pk])


class SyncConflictOut(ErrorOut):
    sync_run: SyncRunOut


# --------------------------------------------------------------------------- queries


class RunQuery(Schema):
    q: str | None = Field(None, description="Run name or id contains.")
    source: str | None = Field(None, description="Source name.")
    experiment: int | None = Field(None, description="govdash experiment id.")
    status: str | None = Field(None, description="RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.")
    lifecycle: Literal["active", "deleted", "all"] = Field(
        "active", description="active (default), deleted (deleted or gone), all."
    )
    classification: str | None = Field(None, description="Exact, case-insensitive.")
    tag: str | None = Field(None, description="key (tag is set) or key=value.")


class ExperimentQuery(Schema):
    q: str | None = Field(None, description="Name contains.")
    source: str | None = None
    lifecycle: Literal["active", "deleted", "all"] = "active"
    tag: str | None = None


class ModelQuery(Schema):
    q: str | None = Field(None, description="Name contains.")
    source: str | None = None
    state: Literal["current", "gone", "all"] = "current"
    alias: str | None = Field(None, description="Has this alias.")
    alerts: Literal["open"] | None = Field(None, description="open: with open alerts only.")


# The runs' own order (newest first), which the index tracking_run_recent serves.


def _filter_data(query: Schema) -> dict[str, str]:
    """The query as the FilterSets take it (the pages' query strings)."""
    return {key: str(value) for key, value in query.dict().items() if value not in (None, "")}


# --------------------------------------------------------------------------- endpoints


@router.get("/sources", response=list[SourceOut], summary="Tracking sources, with their last sync")
def list_sources(request: HttpRequest) -> list[Source]:
    last = last_sync_by_source()
    prefetch_related_objects(list(last.values()), "source", "requested_by")
    return [attach(source, last_sync=last.get(source.pk)) for source in Source.objects.all()]


@router.get(
    "/sources/{name}",
    response={200: SourceOut, 404: ErrorOut},
    summary="One source, with its last sync",
)
def get_source(request: HttpRequest, name: str) -> Source:
    source = get_object_or_404(Source, name=name)
    return attach(source, last_sync=last_sync(source))


@router.post(
    "/sources/{name}/sync",
    response={
        202: SyncStartedOut,
        403: ErrorOut,
        404: ErrorOut,
        409: SyncConflictOut,
        503: ErrorOut,
    },
    summary="Start a sync (administrators and compliance officers)",
)
def start_sync(request: HttpRequest, name: str, full: bool = False) -> Status:
    if not request.user.has_perm(SYNC_SOURCE):
        raise PermissionDenied("Only compliance officers and administrators start syncs.")
    source = get_object_or_404(Source, name=name)
    try:
        sync_run = sync_enqueue(source=source, full=full, actor=request.user)  # type: ignore[arg-type]
    except SyncAlreadyRunning as exc:
        active = SyncRun.objects.select_related("source", "requested_by").get(pk=exc.sync_run.pk)
        raise AnswerWith(
            Conflict(f"a sync of {source.name} is already {active.status}"),
            sync_run=SyncRunOut.from_orm(active),
        ) from exc
    # QueueUnavailable (503) propagates to the API's exception handler.
    return Status(202, SyncRun.objects.select_related("source", "requested_by").get(pk=sync_run.pk))


@router.get(
    "/sync-runs/{sync_run_id}",
    response={200: SyncRunOut, 404: ErrorOut},
    summary="A sync and its progress",
)
def get_sync_run(request: HttpRequest, sync_run_id: int) -> SyncRun:
    return get_object_or_404(
        SyncRun.objects.select_related("source", "requested_by"), pk=sync_run_id
    )


@router.get(
    "/experiments",
    response={200: list[ExperimentOut], 422: ErrorOut},
    summary="Experiments; deleted ones only when asked (lifecycle=deleted|all)",
)
@paginate(LimitOffsetPage)
def list_experiments(request: HttpRequest, query: Query[ExperimentQuery]) -> QuerySet[Experiment]:
    filterset = ExperimentFilter(
        _filter_data(query), queryset=Experiment.objects.select_related("source")
    )
    require_valid(filterset.form)
    return filterset.qs.order_by("name", "id")


@router.get(
    "/runs",
    response={200: list[RunOut], 422: ErrorOut},
    summary="Runs across experiments, filtered like the runs table",
)
@paginate(KeysetPage, keyset=RUN_KEYSET)
def list_runs(request: HttpRequest, query: Query[RunQuery]) -> QuerySet[Run]:
    filterset = RunFilter(_filter_data(query), queryset=runs_for_list())
    require_valid(filterset.form)
    return filterset.qs


@router.get(
    "/runs/{run_id}",
    response={200: RunDetailOut, 404: ErrorOut, 409: ErrorOut},
    summary="One run by its MLflow run id (add ?source= if several sources hold it)",
)
def get_run(request: HttpRequest, run_id: str, source: str | None = None) -> Run:
    run = run_by_mlflow_id(run_id, source)
    return attach(run, versions_of_run=model_versions_of_run(run))


@router.get(
    "/models",
    response={200: list[ModelOut], 422: ErrorOut},
    summary="Registered models with their aliases",
)
@paginate(LimitOffsetPage)
def list_models(request: HttpRequest, query: Query[ModelQuery]) -> QuerySet[RegisteredModel]:
    filterset = ModelFilter(
        _filter_data(query), queryset=RegisteredModel.objects.select_related("source")
    )
    require_valid(filterset.form)
    return filterset.qs.order_by("name", "id")


@router.get(
    "/models/{model_id}",
    response={200: ModelDetailOut, 404: ErrorOut},
    summary="One model: versions, current aliases and the alias history",
)
def get_model(request: HttpRequest, model_id: int) -> RegisteredModel:
    model = get_object_or_404(
        RegisteredModel.objects.with_open_alerts().select_related("source"), pk=model_id
    )
    history = list(alias_history(model))
    return attach(model, alias_history=history, open_alerts=model.open_alert_count())
