"""Tables of the mirror's list pages. Every cell renders escaped: the content is synced
from servers anyone with an MLflow login can write to."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from kernel.tables import DATETIME, EMPTY, PlainRowsTable, datetime_text, text
from tracking.models import AliasChange, Experiment, ModelVersion, RegisteredModel, Run, SyncRun

TABLE_ATTRS = {"class": "usa-table usa-table--compact usa-table--striped width-full"}
TEMPLATE = "includes/table.html"


def _deleted_row(record: Any) -> str:
    return "govdash-row--deleted" if record.is_deleted else ""


def lifecycle_label(record: Run | Experiment) -> str:
    if record.gone_at is not None:
        return mark_safe('<span class="usa-tag govdash-tag--gone">Gone</span>')
    if record.lifecycle_stage == "deleted":
        return mark_safe('<span class="usa-tag govdash-tag--deleted">Deleted</span>')
    return record.lifecycle_stage


class RunTable(PlainRowsTable):
    """The runs lists (all runs, an experiment's runs): read all day and paged by
    keyset over millions, so its rows are rendered by ``cell_*`` (kernel.tables)."""

    run_name = tables.Column(verbose_name="Run", empty_values=(), order_by=("run_name", "id"))
    experiment = tables.Column(
        accessor="experiment__name", verbose_name="Experiment", order_by=("experiment__name", "id")
    )
    source = tables.Column(accessor="source__name", verbose_name="Source", order_by="source__name")
    status = tables.Column()
    lifecycle_stage = tables.Column(verbose_name="Lifecycle", empty_values=())
    classification = tables.Column(verbose_name="Classification")
    user_id = tables.Column(verbose_name="User")
    start_time = tables.DateTimeColumn(
        format=DATETIME, verbose_name="Started (UTC)", order_by=("start_time", "id")
    )
    run_id = tables.Column(verbose_name="Run id", attrs={"td": {"class": "govdash-mono"}})

    class Meta:
        model = Run
        fields = (
            "run_name",
            "experiment",
            "source",
            "status",
            "lifecycle_stage",
            "classification",
            "user_id",
            "start_time",
            "run_id",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {"class": _deleted_row}
        order_by = "-start_time"
        empty_text = "No runs match."

    def cell_run_name(self, record: Run) -> str:
        return format_html(
            '<a href="{}">{}</a>', record.get_absolute_url(), record.run_name or record.run_id
        )

    def cell_experiment(self, record: Run) -> str:
        experiment = record.experiment
        if not experiment.name:
            return EMPTY
        return format_html('<a href="{}">{}</a>', experiment.get_absolute_url(), experiment.name)

    def cell_source(self, record: Run) -> str:
        return text(record.source.name)

    def cell_status(self, record: Run) -> str:
        return text(record.status)

    def cell_lifecycle_stage(self, record: Run) -> str:
        return text(lifecycle_label(record))

    def cell_classification(self, record: Run) -> str:
        return text(record.classification)

    def cell_user_id(self, record: Run) -> str:
        return text(record.user_id)

    def cell_start_time(self, record: Run) -> str:
        return datetime_text(record.start_time, DATETIME)

    def cell_run_id(self, record: Run) -> str:
        # Enough to tell runs apart at a glance; the run page has the whole id.
        value = record.run_id
        return text(value[:8] + "…" if len(value) > 9 else value)


class ExperimentTable(tables.Table):
    name = tables.Column(linkify=True, verbose_name="Experiment")
    source = tables.Column(accessor="source__name", verbose_name="Source", order_by="source__name")
    experiment_id = tables.Column(verbose_name="MLflow id")
    lifecycle_stage = tables.Column(verbose_name="Lifecycle", empty_values=())
    run_count = tables.Column(verbose_name="Runs")
    last_update_time = tables.DateTimeColumn(format=DATETIME, verbose_name="Updated (UTC)")

    class Meta:
        model = Experiment
        fields = (
            "name",
            "source",
            "experiment_id",
            "lifecycle_stage",
            "run_count",
            "last_update_time",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {"class": _deleted_row}
        order_by = "name"
        empty_text = "No experiments match."

    def render_lifecycle_stage(self, record: Experiment) -> str:
        return lifecycle_label(record)


def _aliases(value: dict[str, str]) -> str:
    return ", ".join(f"{alias} → v{version}" for alias, version in sorted(value.items())) or "—"


class ModelTable(tables.Table):
    name = tables.Column(linkify=True, verbose_name="Model")
    source = tables.Column(accessor="source__name", verbose_name="Source", order_by="source__name")
    aliases = tables.Column(verbose_name="Aliases", orderable=False, empty_values=())
    version_count = tables.Column(verbose_name="Versions")
    open_alerts = tables.Column(verbose_name="Open alerts")
    last_updated_time = tables.DateTimeColumn(format=DATETIME, verbose_name="Updated (UTC)")
    gone_at = tables.DateTimeColumn(format=DATETIME, verbose_name="Gone since (UTC)")

    class Meta:
        model = RegisteredModel
        fields = (
            "name",
            "source",
            "aliases",
            "version_count",
            "open_alerts",
            "last_updated_time",
            "gone_at",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {"class": lambda record: "govdash-row--deleted" if record.gone_at else ""}
        order_by = "name"
        empty_text = "No models match."

    def render_aliases(self, value: dict[str, str]) -> str:
        return _aliases(value)

    def render_open_alerts(self, value: int) -> str:
        if not value:
            return "0"
        return format_html('<span class="usa-tag govdash-tag--alert">{} open</span>', value)


class ModelVersionTable(tables.Table):
    version = tables.Column(linkify=True, order_by=("creation_time", "id"))
    semver = tables.Column(verbose_name="Semantic version")
    aliases = tables.Column(orderable=False, empty_values=())
    status = tables.Column()
    current_stage = tables.Column(verbose_name="Stage")
    run = tables.Column(
        accessor="mlflow_run_id", verbose_name="Run", empty_values=(), orderable=False
    )
    creation_time = tables.DateTimeColumn(format=DATETIME, verbose_name="Created (UTC)")
    gone_at = tables.DateTimeColumn(format=DATETIME, verbose_name="Gone since (UTC)")

    class Meta:
        model = ModelVersion
        fields = (
            "version",
            "semver",
            "aliases",
            "status",
            "current_stage",
            "run",
            "creation_time",
            "gone_at",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {"class": lambda record: "govdash-row--deleted" if record.gone_at else ""}
        order_by = "-version"
        empty_text = "No versions."

    def render_aliases(self, value: list[str]) -> str:
        return ", ".join(value) or "—"

    def render_run(self, record: ModelVersion) -> str:
        if record.run_id:
            return format_html(
                '<a href="{}" class="govdash-mono">{}</a>',
                reverse("tracking:run", args=[record.run_id]),
                record.mlflow_run_id or "run",
            )
        if record.mlflow_run_id:
            return format_html(
                '<span class="govdash-mono">{}</span> (not in the mirror)', record.mlflow_run_id
            )
        return "—"


def _version_link(model_id: int, version: str, known: set[str]) -> str:
    if not version:
        return "(none)"
    if version not in known:
        return f"v{version}"
    return format_html(
        '<a href="{}">v{}</a>', reverse("tracking:version", args=[model_id, version]), version
    )


class AliasChangeTable(tables.Table):
    observed_at = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="Observed (UTC)")
    alias = tables.Column()
    move = tables.Column(verbose_name="From → to", empty_values=(), orderable=False)
    unapproved = tables.Column(verbose_name="Approval", empty_values=())
    acknowledged = tables.Column(verbose_name="Acknowledged", empty_values=(), orderable=False)
    sync_run = tables.Column(accessor="sync_run_id", verbose_name="Seen by sync", orderable=False)

    class Meta:
        model = AliasChange
        fields = ("observed_at", "alias", "move", "unapproved", "acknowledged", "sync_run")
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {"class": lambda record: "govdash-row--alert" if record.unapproved else ""}
        order_by = "-observed_at"
        empty_text = "No alias changes observed."

    def __init__(self, *args: Any, known_versions: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known_versions = known_versions

    def render_move(self, record: AliasChange) -> str:
        return format_html(
            "{} → {}",
            _version_link(record.model_id, record.from_version, self.known_versions),
            _version_link(record.model_id, record.to_version, self.known_versions),
        )

    def render_unapproved(self, record: AliasChange) -> str:
        if record.unapproved:
            return mark_safe(
                '<span class="usa-tag govdash-tag--alert">Not approved in govdash</span>'
            )
        return "—"

    def render_acknowledged(self, record: AliasChange) -> str:
        if not record.unapproved:
            return "—"
        if record.acknowledged_at is None:
            return "Open"
        who = record.acknowledged_by.get_username() if record.acknowledged_by else "?"
        return f"{record.acknowledged_at:%Y-%m-%d %H:%M} by {who}"

    def render_sync_run(self, record: AliasChange) -> str:
        return f"#{record.sync_run_id}" if record.sync_run_id else "—"


def format_counts(value: dict[str, int]) -> str:
    shown = {key: number for key, number in (value or {}).items() if number}
    return ", ".join(f"{key} {number}" for key, number in sorted(shown.items())) or "—"


class SyncRunTable(tables.Table):
    id = tables.Column(verbose_name="#")
    status = tables.Column()
    full = tables.BooleanColumn(verbose_name="Full", yesno="full,incremental")
    requested_by = tables.Column(verbose_name="Requested by", default="schedule or command")
    created_at = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="Requested (UTC)")
    duration = tables.Column(verbose_name="Duration", empty_values=(), orderable=False)
    counts = tables.Column(verbose_name="Counts", orderable=False, empty_values=())
    error = tables.Column(
        verbose_name="Error", orderable=False, attrs={"td": {"class": "govdash-wrap"}}
    )

    class Meta:
        model = SyncRun
        fields = (
            "id",
            "status",
            "full",
            "requested_by",
            "created_at",
            "duration",
            "counts",
            "error",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        row_attrs = {
            "class": lambda record: "govdash-row--alert" if record.status == "failed" else ""
        }
        order_by = "-created_at"
        empty_text = "No syncs yet."

    def render_status(self, record: SyncRun) -> str:
        return status_tag(record.status, record.get_status_display())

    def render_requested_by(self, value: Any) -> str:
        return value.get_username()

    def render_duration(self, record: SyncRun) -> str:
        return format_duration(record.duration_seconds)

    def render_counts(self, value: dict[str, int]) -> str:
        return format_counts(value)


def status_tag(status: str, label: str) -> str:
    return format_html(
        '<span class="usa-tag govdash-status govdash-status--{}">{}</span>', status, label
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
