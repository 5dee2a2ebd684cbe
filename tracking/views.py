"""Pages of the MLflow mirror: open to every signed-in user; syncs, sources and
alert acknowledgements only to those whose role allows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kernel.http import private_no_store
from kernel.tables import configure_keyset_table, configure_table
from tracking import links
from tracking.alerts import AlertAlreadyAcknowledged, alert_acknowledge
from tracking.filters import (
    RUN_TABLE_KEYSETS,
    ExperimentFilter,
    ModelFilter,
    RunFilter,
    runs_for_list,
)
from tracking.forms import SourceForm
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
from tracking.permissions import ADD_SOURCE, SYNC_SOURCE
from tracking.selectors import (
    alias_history,
    last_sync,
    last_sync_by_source,
    mirror_counts,
    model_versions_of_run,
    syncs_needing_attention,
)
from tracking.services import SyncAlreadyRunning, source_create
from tracking.tables import (
    AliasChangeTable,
    ExperimentTable,
    ModelTable,
    ModelVersionTable,
    RunTable,
    SyncRunTable,
)

PER_PAGE = 50
# Values longer than this are cut short in the page, with a disclosure for the rest.
LONG_VALUE = 300

CAPABILITIES = (
    ("run_filter", "server-side run filters"),
    ("multi_experiment_run_search", "run search across experiments"),
    ("model_version_search", "model-version search"),
    ("alias_write", "alias write-back (set and delete)"),
    ("artifact_listing", "artifact listing"),
)


def _count_of(model: type[Any], fk: str, **conditions: Any) -> Coalesce:
    """A correlated COUNT: evaluated for the rows on the page only, not the whole table."""
    counted = (
        model.objects.filter(**{fk: OuterRef("pk")}, **conditions)
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _next_or(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --------------------------------------------------------------------------- sources


@dataclass
class Capability:
    label: str
    supported: bool


@dataclass
class SourcePanel:
    source: Source
    last_sync: SyncRun | None
    ui_url: str | None = None
    display_url: str = ""
    unencrypted: bool = False
    credential: str = ""
    capabilities: list[Capability] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_runs_page: int | None = None


def credential_description(source: Source) -> str:
    if source.secret_env:
        return f"from environment variable {source.secret_env}"
    if source.secret_encrypted:
        return "stored encrypted"
    return "none"


def source_panel(source: Source, last_sync: SyncRun | None) -> SourcePanel:
    panel = SourcePanel(
        source=source,
        last_sync=last_sync,
        ui_url=links.mlflow_ui(source),
        display_url=links.display_url(source.url),
        unencrypted=links.unencrypted(source.url),
        credential=credential_description(source),
    )
    found = source.capabilities or {}
    if found:
        panel.capabilities = [
            Capability(label, bool(found.get(key))) for key, label in CAPABILITIES if key in found
        ]
        panel.notes = [str(note) for note in found.get("notes") or ()]
        panel.max_runs_page = found.get("max_runs_page")
    return panel


@require_GET
def sources(request: HttpRequest) -> HttpResponse:
    last = last_sync_by_source()
    prefetch_related_objects(list(last.values()), "requested_by")
    panels = [source_panel(source, last.get(source.pk)) for source in Source.objects.all()]
    return render(
        request,
        "tracking/sources.html",
        {
            "panels": panels,
            "attention": syncs_needing_attention(),
        },
    )


@require_GET
def source_detail(request: HttpRequest, name: str) -> HttpResponse:
    source = get_object_or_404(Source, name=name)
    history = SyncRun.objects.filter(source=source).select_related("requested_by")
    table = SyncRunTable(history.defer("checkpoint"))
    table.caption = f"Sync history of {source.name}"
    configure_table(request, table, per_page=25)
    return render(
        request,
        "tracking/source_detail.html",
        {
            "panel": source_panel(source, last_sync(source)),
            "counts": mirror_counts(source=source),
            "table": table,
        },
    )


@require_POST
def source_sync(request: HttpRequest, name: str) -> HttpResponse:
    if not request.user.has_perm(SYNC_SOURCE):
        raise PermissionDenied("Only compliance officers and administrators start syncs.")
    source = get_object_or_404(Source, name=name)
    full = request.POST.get("full") == "1"
    try:
        sync_run = sync_enqueue(source=source, full=full, actor=request.user)  # type: ignore[arg-type]
    except SyncAlreadyRunning as exc:
        messages.warning(
            request,
            f"A sync of {source.name} is already {exc.sync_run.status} "
            f"(sync #{exc.sync_run.pk}); its progress is shown below.",
        )
    except QueueUnavailable as exc:
        messages.error(
            request,
            f"The sync of {source.name} could not be started: {exc}. "
            "Try again once the job queue is back; nothing was changed.",
        )
    else:
        kind = "Full sync" if sync_run.full else "Sync"
        messages.success(request, f"{kind} #{sync_run.pk} of {source.name} queued.")
    return redirect(_next_or(request, reverse("tracking:sources")))


@require_GET
def sync_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar of one sync, re-polled by htmx while the sync is active."""
    sync_run = get_object_or_404(SyncRun.objects.select_related("source"), pk=pk)
    return render(request, "tracking/_sync_progress.html", {"sync": sync_run})


@require_http_methods(["GET", "POST"])
def source_add(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(ADD_SOURCE):
        raise PermissionDenied("Only administrators add sources.")
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            source = source_create(
                name=data["name"],
                url=data["url"],
                kind=data["kind"],
                auth=data["auth"],
                secret_env=data["secret_env"],
                secret=data["secret"],
                sync_interval_minutes=data["sync_interval_minutes"],
                watched_aliases=data["watched_aliases"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Source {source.name} added. Start its first sync below.")
            return redirect(source.get_absolute_url())
    response = render(request, "tracking/source_add.html", {"form": form})
    # The form may have carried a secret: no cache keeps the page.
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- experiments and runs


@require_GET
def experiments(request: HttpRequest) -> HttpResponse:
    queryset = (
        Experiment.objects.select_related("source")
        .only(
            "id",
            "name",
            "experiment_id",
            "lifecycle_stage",
            "last_update_time",
            "gone_at",
            "source__id",
            "source__name",
        )
        .annotate(run_count=_count_of(Run, "experiment"))
    )
    experiment_filter = ExperimentFilter(request.GET, queryset=queryset)
    table = ExperimentTable(experiment_filter.qs)
    table.caption = "Experiments"
    configure_table(request, table, per_page=PER_PAGE)
    return render(
        request,
        "tracking/experiments.html",
        {"filter": experiment_filter, "table": table},
    )


@private_no_store
@require_GET
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(Experiment.objects.select_related("source"), pk=pk)
    run_filter = RunFilter(
        request.GET, queryset=runs_for_list().filter(experiment=experiment), experiment=experiment
    )
    table = RunTable(run_filter.qs, exclude=("experiment", "source"))
    table.caption = f"Runs of {experiment.name}"
    configure_keyset_table(
        request, table, keysets=RUN_TABLE_KEYSETS, default="-start_time", per_page=PER_PAGE
    )
    return render(
        request,
        "tracking/experiment_detail.html",
        {
            "experiment": experiment,
            "filter": run_filter,
            "table": table,
            "tags": _key_values(experiment.tags),
            "mlflow_url": links.experiment_link(experiment),
        },
    )


@private_no_store
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    run_filter = RunFilter(request.GET, queryset=runs_for_list())
    table = RunTable(run_filter.qs)
    table.caption = "Runs"
    configure_keyset_table(
        request, table, keysets=RUN_TABLE_KEYSETS, default="-start_time", per_page=PER_PAGE
    )
    return render(request, "tracking/runs.html", {"filter": run_filter, "table": table})


@dataclass
class KeyValue:
    key: str
    value: str

    @property
    def is_long(self) -> bool:
        return len(self.value) > LONG_VALUE


def _key_values(data: dict[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(str(key), str(value)) for key, value in sorted((data or {}).items())]


@dataclass
class MetricValue:
    key: str
    value: Any
    step: Any
    timestamp: dt.datetime | None


def _metrics(data: dict[str, Any] | None) -> list[MetricValue]:
    rows = []
    for key, latest in sorted((data or {}).items()):
        latest = latest if isinstance(latest, dict) else {"value": latest}
        millis = latest.get("timestamp")
        when = (
            dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
            if isinstance(millis, int | float)
            else None
        )
        rows.append(MetricValue(str(key), latest.get("value"), latest.get("step"), when))
    return rows


@private_no_store
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("source", "experiment"), pk=pk)
    return render(
        request,
        "tracking/run_detail.html",
        {
            "run": run,
            "params": _key_values(run.params),
            "tags": _key_values(run.tags),
            "metrics": _metrics(run.metrics),
            "versions": model_versions_of_run(run),
            "mlflow_url": links.run_link(run),
            "long_value": LONG_VALUE,
        },
    )


# --------------------------------------------------------------------------- models


@require_GET
def models(request: HttpRequest) -> HttpResponse:
    queryset = (
        RegisteredModel.objects.with_open_alerts()
        .select_related("source")
        .only(
            "id",
            "name",
            "aliases",
            "last_updated_time",
            "gone_at",
            "source__id",
            "source__name",
        )
        .annotate(version_count=_count_of(ModelVersion, "model"))
    )
    model_filter = ModelFilter(request.GET, queryset=queryset)
    table = ModelTable(model_filter.qs)
    table.caption = "Registered models"
    configure_table(request, table, per_page=PER_PAGE)
    return render(request, "tracking/models.html", {"filter": model_filter, "table": table})


@require_GET
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_object_or_404(RegisteredModel.objects.select_related("source"), pk=pk)
    known = set(model.versions.values_list("version", flat=True))
    versions = ModelVersionTable(
        model.versions.defer("tags", "description").select_related("model"), prefix="v-"
    )
    versions.caption = f"Versions of {model.name}"
    configure_table(request, versions, per_page=PER_PAGE)
    history = AliasChangeTable(alias_history(model), prefix="h-", known_versions=known)
    history.caption = f"Alias history of {model.name}"
    configure_table(request, history, per_page=PER_PAGE)
    open_alerts = list(model.alias_changes.open_alerts())
    return render(
        request,
        "tracking/model_detail.html",
        {
            "model": model,
            "aliases": sorted(model.aliases.items()),
            "known_versions": known,
            "versions": versions,
            "history": history,
            "open_alerts": open_alerts,
            "tags": _key_values(model.tags),
            "mlflow_url": links.model_link(model),
        },
    )


@require_GET
def version_detail(request: HttpRequest, pk: int, version: str) -> HttpResponse:
    model_version = get_object_or_404(
        ModelVersion.objects.select_related("model__source", "run__experiment"),
        model_id=pk,
        version=version,
    )
    model = model_version.model
    changes = model.alias_changes.filter(
        Q(to_version=version) | Q(from_version=version)
    ).select_related("acknowledged_by")
    return render(
        request,
        "tracking/version_detail.html",
        {
            "model": model,
            "version": model_version,
            "alias_changes": changes,
            "current_aliases": sorted(a for a, v in model.aliases.items() if str(v) == version),
            "tags": _key_values(model_version.tags),
            "mlflow_url": links.version_link(model_version),
            "long_value": LONG_VALUE,
        },
    )


# --------------------------------------------------------------------------- alerts


@require_POST
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(AliasChange.objects.select_related("model__source"), pk=pk)
    try:
        alert_acknowledge(change=change, actor=request.user)  # type: ignore[arg-type]
    except AlertAlreadyAcknowledged:
        messages.info(request, "That alert had already been acknowledged.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Alert acknowledged: {change.model.name} “{change.alias}” "
            f"{change.from_version or '(none)'} → {change.to_version or '(none)'}.",
        )
    return redirect(_next_or(request, reverse("home")))
