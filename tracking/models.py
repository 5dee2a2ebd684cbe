"""The mirror of what tracking servers hold, and the record of every sync.

Only the sync services write these tables. Nothing synced is ever removed:
runs and experiments deleted upstream are marked, and rows that vanish from
the server altogether are marked ``gone_at``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

# Run tags under this prefix are govdash's own, written back to the tracking
# server (the verdict and risk): they are not facts about the run, so they are
# left out of the content compliance rules look at (``Run.facts_hash``).
GOVDASH_TAG_PREFIX = "govdash."


def visible_q(prefix: str = "") -> Q:
    """What "visible" means for runs and experiments: active lifecycle and still on
    the server. ``prefix`` is the path to the row from the model a query starts at
    (``"run__"`` from an assessment). ``RunQuerySet.visible()`` and
    ``ExperimentQuerySet.visible()`` are this condition; ``is_visible`` says it of one row."""
    return Q(**{f"{prefix}lifecycle_stage": "active", f"{prefix}gone_at__isnull": True})


def deleted_q(prefix: str = "") -> Q:
    """The opposite view: deleted on the server, or gone from it."""
    return Q(**{f"{prefix}lifecycle_stage": "deleted"}) | Q(**{f"{prefix}gone_at__isnull": False})


SOURCE_NAME = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,62}$",
    "Use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.",
)


class Source(models.Model):
    class Kind(models.TextChoices):
        MLFLOW = "mlflow", "MLflow"
        GITLAB = "gitlab", "GitLab"

    class Auth(models.TextChoices):
        NONE = "none", "No authentication"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "HTTP basic (user:password)"

    name = models.CharField(max_length=63, unique=True, validators=[SOURCE_NAME])
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MLFLOW)
    url = models.URLField(max_length=500)
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.NONE)
    # Credentials come from an environment variable named here...
    secret_env = models.CharField(max_length=100, blank=True)
    # ...or are stored encrypted (Fernet, see tracking.secrets); never in plain text.
    secret_encrypted = models.TextField(blank=True)
    sync_interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Sync on a schedule; empty for manual syncs only."
    )
    watched_aliases = models.JSONField(default=list, blank=True)
    # Vanilla MLflow only: after each assessment, set the run tags
    # govdash.compliance and govdash.risk on the tracking server.
    writeback_enabled = models.BooleanField(default=False)
    capabilities = models.JSONField(default=dict, blank=True)
    capabilities_checked_at = models.DateTimeField(null=True, blank=True)
    # Incremental sync state (see tracking.sync for the strategy).
    runs_watermark = models.BigIntegerField(null=True, blank=True)
    reconcile_cursor = models.JSONField(default=dict, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tracking:source", args=[self.name])

    @property
    def watched(self) -> list[str]:
        return list(self.watched_aliases) or ["production"]


class SyncRunQuerySet(models.QuerySet["SyncRun"]):
    def active(self) -> SyncRunQuerySet:
        return self.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])


class SyncRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="sync_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    full = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    job_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=40, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One sync at a time per source.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="tracking_one_active_sync_per_source",
            )
        ]
        indexes = [models.Index(fields=["source", "-created_at"], name="tracking_syncrun_recent")]

    def __str__(self) -> str:
        return f"sync #{self.pk} of {self.source_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def mark(self) -> int:
        """The id that rows read by this sync are marked with: a resumed sync
        carries on with the mark of the sync it resumes."""
        return int((self.checkpoint or {}).get("mark") or self.pk)

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))


class ExperimentQuerySet(models.QuerySet["Experiment"]):
    def visible(self) -> ExperimentQuerySet:
        return self.filter(visible_q())

    def deleted(self) -> ExperimentQuerySet:
        return self.filter(deleted_q())


class Experiment(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="experiments")
    experiment_id = models.CharField(max_length=64)
    name = models.CharField(max_length=500)
    artifact_location = models.TextField(blank=True)
    lifecycle_stage = models.CharField(max_length=20, default="active")
    creation_time = models.DateTimeField(null=True, blank=True)
    last_update_time = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "experiment_id"], name="tracking_experiment_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tracking:experiment", args=[self.pk])

    @property
    def is_deleted(self) -> bool:
        return self.lifecycle_stage == "deleted" or self.gone_at is not None


class RunQuerySet(models.QuerySet["Run"]):
    def visible(self) -> RunQuerySet:
        """Runs shown and assessed by default: active lifecycle, still on the server."""
        return self.filter(visible_q())

    def deleted(self) -> RunQuerySet:
        return self.filter(deleted_q())


class Run(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    run_id = models.CharField(max_length=64)
    run_name = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, db_index=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    user_id = models.CharField(max_length=255, blank=True)
    artifact_uri = models.TextField(blank=True)
    lifecycle_stage = models.CharField(max_length=20, default="active")
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    # key -> {"value": float, "step": int, "timestamp": int}: the latest value of each metric.
    metrics = models.JSONField(default=dict, blank=True)
    # The tag most filters use, copied into a column so it can be indexed.
    classification = models.CharField(max_length=100, blank=True, db_index=True)
    content_hash = models.CharField(max_length=64)
    # The content compliance rules look at: everything but the govdash.* tags
    # govdash writes back itself (so a write-back never triggers a re-assessment).
    facts_hash = models.CharField(max_length=64, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)
    # The sync that last read this run (full syncs and reconcile slices mark
    # what they read; the rest of their range is gone from the server).
    seen_in_sync = models.BigIntegerField(null=True, blank=True)
    gone_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-start_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "run_id"], name="tracking_run_unique")
        ]
        indexes = [
            models.Index(fields=["-start_time", "-id"], name="tracking_run_recent"),
            models.Index(
                fields=["experiment", "-start_time", "-id"], name="tracking_run_exp_recent"
            ),
            models.Index(fields=["source", "-changed_at"], name="tracking_run_changed"),
        ]

    def __str__(self) -> str:
        return self.run_name or self.run_id

    def get_absolute_url(self) -> str:
        return reverse("tracking:run", args=[self.pk])

    @property
    def is_deleted(self) -> bool:
        return self.lifecycle_stage == "deleted" or self.gone_at is not None

    @property
    def is_visible(self) -> bool:
        """``visible_q`` for one loaded run."""
        return self.lifecycle_stage == "active" and self.gone_at is None


class RegisteredModelQuerySet(models.QuerySet["RegisteredModel"]):
    def with_open_alerts(self) -> RegisteredModelQuerySet:
        """Each model with ``open_alerts``, its number of open alerts
        (``AliasChangeQuerySet.open_alerts``): a correlated COUNT, so evaluated
        for the rows fetched only."""
        counted = (
            AliasChange.objects.open_alerts()
            .filter(model=OuterRef("pk"))
            .order_by()
            .values("model")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(
            open_alerts=Coalesce(Subquery(counted, output_field=IntegerField()), 0)
        )


class RegisteredModel(models.Model):
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="registered_models")
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    creation_time = models.DateTimeField(null=True, blank=True)
    last_updated_time = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    # alias -> version, as last seen.
    aliases = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    objects = RegisteredModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "name"], name="tracking_model_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tracking:model", args=[self.pk])

    def open_alert_count(self) -> int:
        """Its open alerts: the ``open_alerts`` of ``with_open_alerts()`` when the
        model was read with it (no query), else counted (one query)."""
        annotated = self.__dict__.get("open_alerts")
        if annotated is not None:
            return int(annotated)
        return self.alias_changes.open_alerts().count()


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    # MLflow numbers versions; GitLab's may be semantic ("1.2.0"): keep the text.
    version = models.CharField(max_length=64)
    source_uri = models.TextField(blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    # The mirrored run, when the version's run exists in the mirror.
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    status = models.CharField(max_length=40, blank=True)
    current_stage = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    creation_time = models.DateTimeField(null=True, blank=True)
    last_updated_time = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    # GitLab's human version ("1.2.0"); MLflow has none.
    semver = models.CharField(max_length=64, blank=True)
    content_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "-creation_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="tracking_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("tracking:version", args=[self.model_id, self.version])


class AliasChangeQuerySet(models.QuerySet["AliasChange"]):
    def open_alerts(self) -> AliasChangeQuerySet:
        """Out-of-band moves of a watched alias that nobody acknowledged yet."""
        return self.filter(unapproved=True, acknowledged_at__isnull=True)


class AliasChange(models.Model):
    """Every observed change of the version an alias points to."""

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.PROTECT, related_name="alias_changes"
    )
    alias = models.CharField(max_length=255)
    from_version = models.CharField(max_length=64, blank=True)  # "": alias was new
    to_version = models.CharField(max_length=64, blank=True)  # "": alias removed
    observed_at = models.DateTimeField(default=timezone.now)
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="alias_changes"
    )
    # A watched alias moved to a version govdash did not approve: an alert.
    unapproved = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AliasChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [
            models.Index(fields=["model", "alias", "-observed_at"], name="tracking_alias_hist")
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias}: {self.from_version} -> {self.to_version}"
